// Cuts a continuous MPEG-TS byte stream into keyframe-aligned segments as bytes arrive
// (on audio packet starts when the stream has no video).
// Each segment starts with the latest PAT and PMT, then the video keyframe's packet,
// so it is independently decodable. Segment bytes are pushed while they are produced.
import { EventEmitter } from "node:events";
import { LiveSegment } from "../hub/segment.ts";

const TS = 188;
const PTS_WRAP = 2 ** 33;

const VIDEO_STREAM_TYPES = new Set([0x1b /* H.264 */, 0x24 /* HEVC */, 0x01, 0x02 /* MPEG-1/2 */]);
const AUDIO_STREAM_TYPES = new Set([0x0f /* AAC ADTS */, 0x11 /* AAC LATM */, 0x03, 0x04 /* MP3 */, 0x81 /* AC-3 */, 0x06 /* private (Opus) */]);

export interface SplitterOptions {
  /** Target duration in seconds: a cut happens at the first keyframe at or after it. */
  targetDuration: number;
  /** Sequence number of the first segment. */
  firstSeq?: number;
  /** Mark the first segment as a discontinuity. */
  discontinuityFirst?: boolean;
}

export interface TsSplitterEvents {
  segment: [LiveSegment];
  error: [Error];
}

/** Reads the 33-bit PTS from a PES header, or undefined. */
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

/** True when the H.264/HEVC elementary stream bytes contain an IDR/IRAP or SPS NAL unit. */
export function containsKeyframeNal(es: Buffer, hevc: boolean): boolean {
  for (let i = 0; i + 3 < es.length; i++) {
    if (es[i] === 0 && es[i + 1] === 0 && es[i + 2] === 1) {
      const header = es[i + 3]!;
      if (hevc) {
        const type = (header >> 1) & 0x3f;
        if (type >= 16 && type <= 21) return true;
        if (type === 32 || type === 33) return true;
      } else {
        const type = header & 0x1f;
        if (type === 5 || type === 7) return true;
      }
      i += 3;
    }
  }
  return false;
}

export class TsSplitter extends EventEmitter<TsSplitterEvents> {
  private remainder: Buffer = Buffer.alloc(0);
  private pmtPid = -1;
  private videoPid = -1;
  private videoIsHevc = false;
  private audioPid = -1;
  private patPacket?: Buffer;
  private pmtPacket?: Buffer;
  private current?: LiveSegment;
  private currentStartPts = 0;
  private lastVideoPts?: number;
  private ptsBase = 0;
  private lastRawPts?: number;
  private frameInterval = 1 / 30;
  private nextSeq: number;
  private discontinuityNext: boolean;
  /** Packets of the current segment not yet flushed (pushed in one chunk per input write). */
  private pending: Buffer[] = [];
  ended = false;

  constructor(private readonly opts: SplitterOptions) {
    super();
    this.nextSeq = opts.firstSeq ?? 0;
    this.discontinuityNext = opts.discontinuityFirst ?? false;
  }

  get hasVideo(): boolean {
    return this.videoPid >= 0;
  }

  /** Feed bytes of the TS stream. */
  write(chunk: Buffer): void {
    if (this.ended) return;
    let buf = this.remainder.length ? Buffer.concat([this.remainder, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= TS) {
      if (buf[off] !== 0x47) {
        // Resynchronise: find the next sync byte that is followed by another one a packet later.
        let next = off + 1;
        while (next < buf.length && !(buf[next] === 0x47 && (next + TS >= buf.length || buf[next + TS] === 0x47))) next++;
        off = next;
        continue;
      }
      this.packet(buf.subarray(off, off + TS));
      off += TS;
    }
    this.remainder = Buffer.from(buf.subarray(off));
    this.flush();
  }

  /** The input ended: complete the open segment. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.flush();
    if (this.current) {
      const last = this.lastVideoPts ?? this.currentStartPts;
      this.finishCurrent(last + this.frameInterval);
    }
  }

  /** Abort the open segment (producer failed). */
  abort(reason: string): void {
    this.ended = true;
    this.pending = [];
    this.current?.abort(reason);
    this.current = undefined;
  }

  private flush(): void {
    if (this.current && this.pending.length) {
      this.current.push(this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending));
    }
    this.pending = [];
  }

  private packet(pkt: Buffer): void {
    const pid = ((pkt[1]! & 0x1f) << 8) | pkt[2]!;
    const pusi = (pkt[1]! & 0x40) !== 0;
    const afc = (pkt[3]! >> 4) & 0x03;
    let payloadStart = 4;
    let rai = false;
    if (afc === 2 || afc === 3) {
      const afLen = pkt[4]!;
      if (afLen > 0) rai = (pkt[5]! & 0x40) !== 0;
      payloadStart = 5 + afLen;
    }
    const hasPayload = afc === 1 || afc === 3;
    const payload = hasPayload && payloadStart < TS ? pkt.subarray(payloadStart) : Buffer.alloc(0);

    if (pid === 0) {
      if (pusi) this.parsePat(payload);
      this.patPacket = Buffer.from(pkt);
      return; // re-inserted at each segment start
    }
    if (pid === this.pmtPid) {
      if (pusi) this.parsePmt(payload);
      this.pmtPacket = Buffer.from(pkt);
      return;
    }
    if (pid === this.audioPid && pusi && this.videoPid < 0 && this.pmtPacket) {
      // Audio-only stream: every audio frame is a random access point, so cut on audio PES starts.
      const raw = readPesPts(payload);
      if (raw !== undefined) {
        const pts = this.unwrap(raw) / 90000;
        if (!this.current || pts - this.currentStartPts >= this.opts.targetDuration - 0.05) this.cut(pts);
        if (this.lastVideoPts === undefined || pts > this.lastVideoPts) this.lastVideoPts = pts;
      }
    }
    if (pid === this.videoPid && pusi) {
      const raw = readPesPts(payload);
      if (raw !== undefined) {
        const pts = this.unwrap(raw) / 90000;
        const headerLen = payload.length > 8 ? 9 + payload[8]! : payload.length;
        const key = rai || containsKeyframeNal(payload.subarray(headerLen), this.videoIsHevc);
        if (this.lastVideoPts !== undefined && pts > this.lastVideoPts) {
          const d = pts - this.lastVideoPts;
          if (d < 0.2) this.frameInterval = this.frameInterval * 0.9 + d * 0.1;
        }
        if (key && (!this.current || pts - this.currentStartPts >= this.opts.targetDuration - this.frameInterval / 2)) {
          this.cut(pts);
        }
        if (this.lastVideoPts === undefined || pts > this.lastVideoPts) this.lastVideoPts = pts;
      }
    }
    if (this.current) this.pending.push(Buffer.from(pkt));
  }

  private unwrap(raw: number): number {
    if (this.lastRawPts !== undefined && raw < this.lastRawPts - PTS_WRAP / 2) this.ptsBase += PTS_WRAP;
    this.lastRawPts = raw;
    return raw + this.ptsBase;
  }

  private cut(pts: number): void {
    this.flush();
    if (this.current) this.finishCurrent(pts);
    const seg = new LiveSegment(this.nextSeq++, pts, this.discontinuityNext);
    this.discontinuityNext = false;
    this.current = seg;
    this.currentStartPts = pts;
    this.emit("segment", seg);
    const head: Buffer[] = [];
    if (this.patPacket) head.push(this.patPacket);
    if (this.pmtPacket) head.push(this.pmtPacket);
    if (head.length) seg.push(Buffer.concat(head));
  }

  private finishCurrent(endPts: number): void {
    const seg = this.current!;
    this.current = undefined;
    seg.end(Math.max(0, endPts - this.currentStartPts));
  }

  private parsePat(payload: Buffer): void {
    const ptr = payload[0] ?? 0;
    const sec = payload.subarray(1 + ptr);
    if (sec.length < 12 || sec[0] !== 0x00) return;
    const sectionLength = ((sec[1]! & 0x0f) << 8) | sec[2]!;
    const end = Math.min(3 + sectionLength - 4, sec.length);
    for (let i = 8; i + 4 <= end; i += 4) {
      const program = (sec[i]! << 8) | sec[i + 1]!;
      const pid = ((sec[i + 2]! & 0x1f) << 8) | sec[i + 3]!;
      if (program !== 0) {
        this.pmtPid = pid;
        return;
      }
    }
  }

  private parsePmt(payload: Buffer): void {
    const ptr = payload[0] ?? 0;
    const sec = payload.subarray(1 + ptr);
    if (sec.length < 12 || sec[0] !== 0x02) return;
    const sectionLength = ((sec[1]! & 0x0f) << 8) | sec[2]!;
    const end = Math.min(3 + sectionLength - 4, sec.length);
    const programInfoLength = ((sec[10]! & 0x0f) << 8) | sec[11]!;
    let i = 12 + programInfoLength;
    while (i + 5 <= end) {
      const type = sec[i]!;
      const pid = ((sec[i + 1]! & 0x1f) << 8) | sec[i + 2]!;
      const esInfoLength = ((sec[i + 3]! & 0x0f) << 8) | sec[i + 4]!;
      if (this.videoPid < 0 && VIDEO_STREAM_TYPES.has(type)) {
        this.videoPid = pid;
        this.videoIsHevc = type === 0x24;
      } else if (this.audioPid < 0 && AUDIO_STREAM_TYPES.has(type)) {
        this.audioPid = pid;
      }
      i += 5 + esInfoLength;
    }
  }
}
