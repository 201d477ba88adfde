// HEVCDecoderConfigurationRecord (ISO 14496-15 "hvcC"), the HEVC sequence header of enhanced RTMP/FLV.
import { ConfigRecordError } from "./avc-config.ts";

export interface HevcConfig {
  /** Bytes in each NAL unit length prefix of coded frames (1, 2 or 4). */
  lengthSize: number;
  /** Every NAL unit of the record's arrays in order (VPS, SPS, PPS, then any SEI), each a copy. */
  nalUnits: Buffer[];
  vps: Buffer[];
  sps: Buffer[];
  pps: Buffer[];
}

export const HEVC_NAL_VPS = 32;
export const HEVC_NAL_SPS = 33;
export const HEVC_NAL_PPS = 34;

/** Parses an hvcC record (23-byte header, then arrays of NAL units). */
export function parseHevcConfig(data: Buffer): HevcConfig {
  if (data.length < 23) throw new ConfigRecordError(`HEVC sequence header too short (${data.length} bytes)`);
  if (data[0] !== 1) throw new ConfigRecordError(`HEVC sequence header version ${data[0]} (expected 1)`);
  const lengthSize = (data[21]! & 0x03) + 1;
  if (lengthSize === 3) throw new ConfigRecordError("HEVC NAL length size 3 is not allowed");
  const arrays = data[22]!;
  let off = 23;
  const cfg: HevcConfig = { lengthSize, nalUnits: [], vps: [], sps: [], pps: [] };
  for (let a = 0; a < arrays; a++) {
    if (off + 3 > data.length) throw new ConfigRecordError("HEVC sequence header truncated");
    const type = data[off]! & 0x3f;
    const count = data.readUInt16BE(off + 1);
    off += 3;
    for (let i = 0; i < count; i++) {
      if (off + 2 > data.length) throw new ConfigRecordError("HEVC sequence header truncated");
      const len = data.readUInt16BE(off);
      off += 2;
      if (off + len > data.length || len < 2) throw new ConfigRecordError("HEVC sequence header truncated");
      const nal = Buffer.from(data.subarray(off, off + len));
      off += len;
      cfg.nalUnits.push(nal);
      if (type === HEVC_NAL_VPS) cfg.vps.push(nal);
      else if (type === HEVC_NAL_SPS) cfg.sps.push(nal);
      else if (type === HEVC_NAL_PPS) cfg.pps.push(nal);
    }
  }
  if (cfg.sps.length === 0) throw new ConfigRecordError("HEVC sequence header has no SPS");
  return cfg;
}
