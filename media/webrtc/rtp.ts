// Small RTP helpers: header fields on raw packets, H.264 keyframe detection, and the
// per-viewer rewriter that keeps sequence numbers and timestamps monotonic across
// upstream restarts (publisher reconnects, processor swaps).

export const RTP_HEADER_MIN = 12;

export function isRtp(buf: Buffer): boolean {
  return buf.length >= RTP_HEADER_MIN && buf[0]! >> 6 === 2;
}

export function rtpSeq(buf: Buffer): number {
  return buf.readUInt16BE(2);
}

export function rtpTimestamp(buf: Buffer): number {
  return buf.readUInt32BE(4);
}

/** Offset of the payload in a raw RTP packet (after CSRCs and the header extension), or -1. */
export function rtpPayloadOffset(buf: Buffer): number {
  if (!isRtp(buf)) return -1;
  const cc = buf[0]! & 0x0f;
  let off = RTP_HEADER_MIN + cc * 4;
  if (buf[0]! & 0x10) {
    if (buf.length < off + 4) return -1;
    off += 4 + buf.readUInt16BE(off + 2) * 4;
  }
  return off <= buf.length ? off : -1;
}

/** Payload length without RTP padding. */
function payloadEnd(buf: Buffer): number {
  if (buf[0]! & 0x20) return buf.length - buf[buf.length - 1]!;
  return buf.length;
}

/**
 * True when an H.264 RTP payload (RFC 6184) begins a keyframe: an IDR slice, or the SPS
 * that precedes it, as a single NAL unit, inside a STAP-A, or as the first FU-A fragment.
 */
export function h264PayloadIsKeyframe(payload: Buffer): boolean {
  if (payload.length < 1) return false;
  const type = payload[0]! & 0x1f;
  if (type === 5 || type === 7) return true;
  if (type === 24) {
    let off = 1;
    while (off + 3 <= payload.length) {
      const size = payload.readUInt16BE(off);
      const nal = payload[off + 2]! & 0x1f;
      if (nal === 5 || nal === 7) return true;
      off += 2 + size;
    }
    return false;
  }
  if (type === 28 && payload.length >= 2) {
    const start = (payload[1]! & 0x80) !== 0;
    return start && (payload[1]! & 0x1f) === 5;
  }
  return false;
}

export function h264RtpIsKeyframe(buf: Buffer): boolean {
  const off = rtpPayloadOffset(buf);
  if (off < 0) return false;
  return h264PayloadIsKeyframe(buf.subarray(off, payloadEnd(buf)));
}

/** True when a VP8 RTP payload (RFC 7741) starts a key frame. */
export function vp8RtpIsKeyframe(buf: Buffer): boolean {
  const off = rtpPayloadOffset(buf);
  if (off < 0 || off >= buf.length) return false;
  const p = buf.subarray(off, payloadEnd(buf));
  if (p.length < 1) return false;
  const x = p[0]! & 0x80;
  const s = p[0]! & 0x10;
  const pid = p[0]! & 0x07;
  if (!s || pid !== 0) return false;
  let i = 1;
  if (x) {
    if (p.length < 2) return false;
    const ext = p[1]!;
    i = 2;
    if (ext & 0x80) i += p.length > i && p[i]! & 0x80 ? 2 : 1; // PictureID
    if (ext & 0x40) i += 1; // TL0PICIDX
    if (ext & 0x20 || ext & 0x10) i += 1; // TID/KEYIDX
  }
  if (i >= p.length) return false;
  return (p[i]! & 0x01) === 0;
}

const U16 = 0x10000;
const U32 = 0x100000000;

/** a is newer than b in 16-bit serial arithmetic. */
export function seqNewer(a: number, b: number): boolean {
  const d = (a - b + U16) % U16;
  return d !== 0 && d < 0x8000;
}

function tsNewer(a: number, b: number): boolean {
  const d = (a - b + U32) % U32;
  return d !== 0 && d < 0x80000000;
}

/**
 * Maps upstream sequence numbers and timestamps onto one continuous outgoing timeline.
 * Within one upstream generation, packets keep their relative spacing (so losses and
 * reordering stay visible to the receiver). When the generation changes or `resync()` was
 * called, the next packet continues right after the last one sent: sequence +1, timestamp
 * + the wall-clock time since (at least one frame).
 */
export class RtpRewriter {
  private seqOffset = 0;
  private tsOffset = 0;
  private lastSeq?: number;
  private lastTs?: number;
  private lastSentAt = 0;
  private generation = -1;
  private pendingResync = true;
  packets = 0;

  constructor(
    private readonly clockRate: number,
    /** Minimum timestamp step across a resync (one frame). */
    private readonly minStep: number,
    private readonly now: () => number = Date.now,
  ) {}

  resync(): void {
    this.pendingResync = true;
  }

  /** Rewrites seq/ts in place on a copy of `packet` and returns the copy. */
  rewrite(packet: Buffer, generation: number): Buffer {
    const seq = rtpSeq(packet);
    const ts = rtpTimestamp(packet);
    const now = this.now();
    if (this.pendingResync || generation !== this.generation) {
      this.pendingResync = false;
      this.generation = generation;
      if (this.lastSeq === undefined || this.lastTs === undefined) {
        this.seqOffset = 0;
        this.tsOffset = 0;
      } else {
        const elapsed = Math.round(((now - this.lastSentAt) * this.clockRate) / 1000);
        const step = Math.max(this.minStep, elapsed);
        this.seqOffset = (this.lastSeq + 1 - seq + U16 * 2) % U16;
        this.tsOffset = (((this.lastTs + step - ts) % U32) + U32) % U32;
      }
    }
    const outSeq = (seq + this.seqOffset) % U16;
    const outTs = (ts + this.tsOffset) % U32;
    const out = Buffer.from(packet);
    out.writeUInt16BE(outSeq, 2);
    out.writeUInt32BE(outTs, 4);
    if (this.lastSeq === undefined || seqNewer(outSeq, this.lastSeq)) this.lastSeq = outSeq;
    if (this.lastTs === undefined || tsNewer(outTs, this.lastTs)) {
      this.lastTs = outTs;
      this.lastSentAt = now;
    }
    this.packets++;
    return out;
  }
}
