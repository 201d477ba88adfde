// PES packetizer: one access unit -> PES header + payload split into 188-byte TS packets (PCR, random access, stuffing).
import { TS_PACKET_SIZE } from "./ts-tables.ts";

export const PTS_MODULO = 2 ** 33;

export interface PesUnit {
  pid: number;
  /** 0xE0 video, 0xC0 audio. */
  streamId: number;
  /** 90 kHz, already reduced modulo 2^33. */
  pts: number;
  /** 90 kHz; written only when it differs from pts. */
  dts: number;
  /** Write PES_packet_length (audio); 0 = unbounded (allowed for video only). */
  bounded: boolean;
  /** Set random_access_indicator on the first packet. */
  randomAccess: boolean;
  /** PCR base (90 kHz) written in the first packet's adaptation field. */
  pcr?: number;
  /** The elementary stream bytes, in pieces (start codes, NAL units, ADTS header, ...). */
  pieces: Uint8Array[];
  /** Sum of the pieces' lengths. */
  length: number;
}

function headerLength(u: PesUnit): number {
  return u.dts !== u.pts ? 19 : 14;
}

function firstAdaptationBytes(u: PesUnit): number {
  return u.pcr !== undefined ? 8 : u.randomAccess ? 2 : 0;
}

/** How many TS packets `writePes` will write for this unit. */
export function pesPacketCount(u: PesUnit): number {
  const total = headerLength(u) + u.length;
  const cap1 = TS_PACKET_SIZE - 4 - firstAdaptationBytes(u);
  return total <= cap1 ? 1 : 1 + Math.ceil((total - cap1) / (TS_PACKET_SIZE - 4));
}

function writeTimestamp(out: Buffer, o: number, prefix: number, ts: number): void {
  const hi = Math.floor(ts / 2 ** 30) & 0x07;
  const mid = Math.floor(ts / 2 ** 15) & 0x7fff;
  const lo = ts % 2 ** 15;
  out[o] = (prefix << 4) | (hi << 1) | 1;
  out[o + 1] = mid >> 7;
  out[o + 2] = ((mid & 0x7f) << 1) | 1;
  out[o + 3] = lo >> 7;
  out[o + 4] = ((lo & 0x7f) << 1) | 1;
}

function writePcr(out: Buffer, o: number, base: number): void {
  out[o] = Math.floor(base / 2 ** 25) & 0xff;
  out[o + 1] = Math.floor(base / 2 ** 17) & 0xff;
  out[o + 2] = Math.floor(base / 2 ** 9) & 0xff;
  out[o + 3] = Math.floor(base / 2) & 0xff;
  out[o + 4] = ((base % 2) << 7) | 0x7e; // reserved bits, extension high bit 0
  out[o + 5] = 0; // program_clock_reference_extension
}

/**
 * Writes the unit as `pesPacketCount(u)` packets at out[off..]; every byte of that range is written.
 * Returns the continuity counter to use for the PID's next packet.
 */
export function writePes(out: Buffer, off: number, cc: number, u: PesUnit): number {
  const hdrLen = headerLength(u);
  let remaining = hdrLen + u.length;
  // The elementary stream is first laid out whole at the end of the unit's range, then moved into
  // the packets with copyWithin: one copy per piece and one move per packet, and no view object
  // per packet (a subarray for each 184 bytes was most of the remuxer's garbage). The packets are
  // written front to back and never overtake the bytes still to be moved: what precedes an
  // elementary stream byte in the packets (headers, stuffing) is at most the range's whole overhead.
  let src = off + pesPacketCount(u) * TS_PACKET_SIZE - u.length;
  for (let i = 0, at = src; i < u.pieces.length; i++) {
    out.set(u.pieces[i]!, at);
    at += u.pieces[i]!.length;
  }
  let first = true;
  let p = off;
  while (remaining > 0) {
    const afNeeded = first ? firstAdaptationBytes(u) : 0;
    const cap = TS_PACKET_SIZE - 4 - afNeeded;
    const payload = Math.min(remaining, cap);
    const afTotal = afNeeded + (cap - payload);
    out[p] = 0x47;
    out[p + 1] = (first ? 0x40 : 0) | ((u.pid >> 8) & 0x1f);
    out[p + 2] = u.pid & 0xff;
    out[p + 3] = (afTotal > 0 ? 0x30 : 0x10) | cc;
    cc = (cc + 1) & 0x0f;
    let q = p + 4;
    if (afTotal > 0) {
      out[q] = afTotal - 1; // adaptation_field_length
      if (afTotal >= 2) {
        let flags = 0;
        if (first && u.randomAccess) flags |= 0x40;
        if (first && u.pcr !== undefined) flags |= 0x10;
        out[q + 1] = flags;
        let w = q + 2;
        if (first && u.pcr !== undefined) {
          writePcr(out, w, u.pcr);
          w += 6;
        }
        out.fill(0xff, w, q + afTotal); // stuffing
      }
      q += afTotal;
    }
    let left = payload;
    if (first) {
      out[q] = 0;
      out[q + 1] = 0;
      out[q + 2] = 1;
      out[q + 3] = u.streamId;
      const pesLen = hdrLen - 6 + u.length;
      out.writeUInt16BE(u.bounded && pesLen <= 0xffff ? pesLen : 0, q + 4);
      out[q + 6] = 0x84; // marker bits, data_alignment_indicator
      if (hdrLen === 19) {
        out[q + 7] = 0xc0;
        out[q + 8] = 10;
        writeTimestamp(out, q + 9, 3, u.pts);
        writeTimestamp(out, q + 14, 1, u.dts);
      } else {
        out[q + 7] = 0x80;
        out[q + 8] = 5;
        writeTimestamp(out, q + 9, 2, u.pts);
      }
      q += hdrLen;
      left -= hdrLen;
    }
    if (left > 0) {
      out.copyWithin(q, src, src + left);
      src += left;
    }
    remaining -= payload;
    first = false;
    p += TS_PACKET_SIZE;
  }
  return cc;
}
