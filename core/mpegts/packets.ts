// MPEG-TS basics shared by everything that reads a TS byte stream as it flows: 188-byte packet
// reassembly (resyncing on garbage), the program map (PAT -> PMT -> video/audio PIDs) and the
// PTS of a PES header.

export const TS_PACKET = 188;

const VIDEO_STREAM_TYPES = new Set([0x1b /* H.264 */, 0x24 /* HEVC */, 0x01, 0x02 /* MPEG-1/2 */]);
const AUDIO_STREAM_TYPES = new Set([0x0f /* AAC ADTS */, 0x11 /* AAC LATM */, 0x03, 0x04 /* MP3 */, 0x81 /* AC-3 */, 0x06 /* private (Opus) */]);

export interface TsPacket {
  /** The 188 bytes (a view into the input: copy before keeping it). */
  raw: Buffer;
  pid: number;
  /** payload_unit_start_indicator: a PES or section starts here. */
  pusi: boolean;
  /** random_access_indicator of the adaptation field. */
  rai: boolean;
  payload: Buffer;
}

/** Reassembles packets from chunks of any size. */
export class TsPacketReader {
  private remainder: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onPacket: (p: TsPacket) => void): void {
    const buf = this.remainder.length ? Buffer.concat([this.remainder, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= TS_PACKET) {
      if (buf[off] !== 0x47) {
        // Resynchronise: the next sync byte followed by another one a packet later.
        let next = off + 1;
        while (next < buf.length && !(buf[next] === 0x47 && (next + TS_PACKET >= buf.length || buf[next + TS_PACKET] === 0x47))) next++;
        off = next;
        continue;
      }
      onPacket(parsePacket(buf.subarray(off, off + TS_PACKET)));
      off += TS_PACKET;
    }
    this.remainder = off < buf.length ? Buffer.from(buf.subarray(off)) : Buffer.alloc(0);
  }

  /** Bytes of a partial packet held from the last push. */
  get buffered(): number {
    return this.remainder.length;
  }

  /** Forget a partial packet (an unrelated byte stream follows). */
  reset(): void {
    this.remainder = Buffer.alloc(0);
  }
}

/** The header fields of one 188-byte packet (`raw` is kept as a view). */
export function parsePacket(raw: Buffer): TsPacket {
  const pid = ((raw[1]! & 0x1f) << 8) | raw[2]!;
  const pusi = (raw[1]! & 0x40) !== 0;
  const afc = (raw[3]! >> 4) & 0x03;
  let payloadStart = 4;
  let rai = false;
  if (afc === 2 || afc === 3) {
    const afLen = raw[4]!;
    if (afLen > 0) rai = (raw[5]! & 0x40) !== 0;
    payloadStart = 5 + afLen;
  }
  const hasPayload = (afc === 1 || afc === 3) && payloadStart < TS_PACKET;
  return { raw, pid, pusi, rai, payload: hasPayload ? raw.subarray(payloadStart) : Buffer.alloc(0) };
}

/** Follows the PAT and PMT to learn the PMT, video and audio PIDs. */
export class TsProgramMap {
  pmtPid = -1;
  videoPid = -1;
  videoIsHevc = false;
  audioPid = -1;

  /** Reads PAT/PMT packets; true when `p` was one of them (not media). */
  observe(p: TsPacket): boolean {
    if (p.pid === 0) {
      if (p.pusi) this.parsePat(p.payload);
      return true;
    }
    if (p.pid === this.pmtPid) {
      if (p.pusi) this.parsePmt(p.payload);
      return true;
    }
    return false;
  }

  private parsePat(payload: Buffer): void {
    const sec = payload.subarray(1 + (payload[0] ?? 0));
    if (sec.length < 12 || sec[0] !== 0x00) return;
    const sectionLength = ((sec[1]! & 0x0f) << 8) | sec[2]!;
    const end = Math.min(3 + sectionLength - 4, sec.length);
    for (let i = 8; i + 4 <= end; i += 4) {
      const program = (sec[i]! << 8) | sec[i + 1]!;
      if (program !== 0) {
        this.pmtPid = ((sec[i + 2]! & 0x1f) << 8) | sec[i + 3]!;
        return;
      }
    }
  }

  private parsePmt(payload: Buffer): void {
    const sec = payload.subarray(1 + (payload[0] ?? 0));
    if (sec.length < 12 || sec[0] !== 0x02) return;
    const sectionLength = ((sec[1]! & 0x0f) << 8) | sec[2]!;
    const end = Math.min(3 + sectionLength - 4, sec.length);
    let i = 12 + (((sec[10]! & 0x0f) << 8) | sec[11]!);
    while (i + 5 <= end) {
      const type = sec[i]!;
      const pid = ((sec[i + 1]! & 0x1f) << 8) | sec[i + 2]!;
      if (this.videoPid < 0 && VIDEO_STREAM_TYPES.has(type)) {
        this.videoPid = pid;
        this.videoIsHevc = type === 0x24;
      } else if (this.audioPid < 0 && AUDIO_STREAM_TYPES.has(type)) {
        this.audioPid = pid;
      }
      i += 5 + (((sec[i + 3]! & 0x0f) << 8) | sec[i + 4]!);
    }
  }
}

/** The 33-bit PTS of a PES header, or undefined. */
export function readPesPts(payload: Buffer): number | undefined {
  if (payload.length < 14 || payload[0] !== 0 || payload[1] !== 0 || payload[2] !== 1) return undefined;
  const flags = payload[7]!;
  if ((flags & 0x80) === 0) return undefined;
  const p = payload;
  return (
    ((p[9]! >> 1) & 0x07) * 2 ** 30 +
    (((p[10]! << 8) | p[11]!) >> 1) * 2 ** 15 +
    (((p[12]! << 8) | p[13]!) >> 1)
  );
}

/** The 33-bit DTS of a PES header (its PTS when it carries no DTS), or undefined. */
export function readPesDts(payload: Buffer): number | undefined {
  if (payload.length < 19 || (payload[7]! & 0xc0) !== 0xc0) return readPesPts(payload);
  if (payload[0] !== 0 || payload[1] !== 0 || payload[2] !== 1) return undefined;
  const p = payload;
  return (
    ((p[14]! >> 1) & 0x07) * 2 ** 30 +
    (((p[15]! << 8) | p[16]!) >> 1) * 2 ** 15 +
    (((p[17]! << 8) | p[18]!) >> 1)
  );
}
