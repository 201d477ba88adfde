// AVCDecoderConfigurationRecord (ISO 14496-15 "avcC"), the H.264 sequence header an FLV/RTMP video stream starts with.

export interface AvcConfig {
  profileIdc: number;
  profileCompatibility: number;
  levelIdc: number;
  /** Bytes in each NAL unit length prefix of coded frames (1, 2 or 4). */
  lengthSize: number;
  sps: Buffer[];
  pps: Buffer[];
}

export class ConfigRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigRecordError";
  }
}

/** Parses an avcC record. The SPS/PPS buffers are copies (the input may be a reused network buffer). */
export function parseAvcConfig(data: Buffer): AvcConfig {
  if (data.length < 7) throw new ConfigRecordError(`AVC sequence header too short (${data.length} bytes)`);
  if (data[0] !== 1) throw new ConfigRecordError(`AVC sequence header version ${data[0]} (expected 1)`);
  const lengthSize = (data[4]! & 0x03) + 1;
  if (lengthSize === 3) throw new ConfigRecordError("AVC NAL length size 3 is not allowed");
  let off = 6; // after numOfSequenceParameterSets
  const read = (count: number, what: string): Buffer[] => {
    const out: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      if (off + 2 > data.length) throw new ConfigRecordError(`AVC sequence header truncated in ${what}`);
      const len = data.readUInt16BE(off);
      off += 2;
      if (off + len > data.length || len === 0) throw new ConfigRecordError(`AVC sequence header truncated in ${what}`);
      out.push(Buffer.from(data.subarray(off, off + len)));
      off += len;
    }
    return out;
  };
  const sps = read(data[5]! & 0x1f, "SPS");
  if (off >= data.length) throw new ConfigRecordError("AVC sequence header has no PPS count");
  const pps = read(data[off++]!, "PPS");
  if (sps.length === 0) throw new ConfigRecordError("AVC sequence header has no SPS");
  return { profileIdc: data[1]!, profileCompatibility: data[2]!, levelIdc: data[3]!, lengthSize, sps, pps };
}
