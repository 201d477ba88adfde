// MPEG-TS program tables: the PAT and a one-program PMT as single 188-byte packets, with the MPEG-2 CRC32.

export const TS_PACKET_SIZE = 188;
export const PID_PAT = 0x0000;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32/MPEG-2 (polynomial 0x04C11DB7, initial 0xFFFFFFFF, no reflection, no final XOR). */
export function crc32Mpeg2(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ data[i]!) & 0xff]!) >>> 0;
  return crc >>> 0;
}

export interface PmtStream {
  streamType: number;
  pid: number;
}

/** A single-packet PSI section: header with pointer_field 0, section, CRC, 0xFF fill. CC is patched on write. */
function sectionPacket(pid: number, section: Buffer): Buffer {
  const p = Buffer.alloc(TS_PACKET_SIZE, 0xff);
  p[0] = 0x47;
  p[1] = 0x40 | ((pid >> 8) & 0x1f); // payload_unit_start_indicator
  p[2] = pid & 0xff;
  p[3] = 0x10; // payload only, continuity counter 0
  p[4] = 0; // pointer_field
  section.copy(p, 5);
  const crc = crc32Mpeg2(p, 5, 5 + section.length);
  p.writeUInt32BE(crc, 5 + section.length);
  return p;
}

/** PAT announcing program 1 at `pmtPid`. */
export function patPacket(pmtPid: number, version = 0): Buffer {
  const s = Buffer.alloc(12);
  s[0] = 0x00; // table_id
  s.writeUInt16BE(0xb000 | (s.length - 3 + 4), 1); // section_syntax_indicator, reserved, section_length (incl. CRC)
  s.writeUInt16BE(1, 3); // transport_stream_id
  s[5] = 0xc1 | ((version & 0x1f) << 1); // reserved, version_number, current_next_indicator
  s[6] = 0; // section_number
  s[7] = 0; // last_section_number
  s.writeUInt16BE(1, 8); // program_number
  s.writeUInt16BE(0xe000 | pmtPid, 10);
  return sectionPacket(PID_PAT, s);
}

/** PMT of program 1 with the given elementary streams (no descriptors). */
export function pmtPacket(pmtPid: number, pcrPid: number, streams: PmtStream[], version = 0): Buffer {
  const s = Buffer.alloc(12 + 5 * streams.length);
  s[0] = 0x02; // table_id
  s.writeUInt16BE(0xb000 | (s.length - 3 + 4), 1);
  s.writeUInt16BE(1, 3); // program_number
  s[5] = 0xc1 | ((version & 0x1f) << 1);
  s[6] = 0;
  s[7] = 0;
  s.writeUInt16BE(0xe000 | pcrPid, 8);
  s.writeUInt16BE(0xf000, 10); // program_info_length 0
  let off = 12;
  for (const st of streams) {
    s[off] = st.streamType;
    s.writeUInt16BE(0xe000 | st.pid, off + 1);
    s.writeUInt16BE(0xf000, off + 3); // ES_info_length 0
    off += 5;
  }
  return sectionPacket(pmtPid, s);
}
