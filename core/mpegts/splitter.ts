// Cuts a continuous MPEG-TS byte stream into keyframe-aligned segments as bytes arrive
// (on audio packet starts when the stream has no video).
// Each segment starts with the latest PAT and PMT, then the video keyframe's packet,
// so it is independently decodable. Segment bytes are pushed while they are produced.
import { EventEmitter } from "node:events";
import { LiveSegment } from "../live-segment.ts";
import { readPesPts, TsPacketReader, TsProgramMap, type TsPacket } from "./packets.ts";

const PTS_WRAP = 2 ** 33;

export interface SplitterOptions {
  /** Target duration in seconds: a cut happens at the first keyframe at or after it. */
  targetDuration: number;
  /** Sequence number of the first segment. */
  firstSeq?: number;
  /** Mark the first segment as a discontinuity. */
  discontinuityFirst?: boolean;
  /**
   * A segment reaching this many seconds without a keyframe is cut at the next video frame
   * anyway (it then starts mid-GOP). Ingest sets it so a publisher with no or rare keyframes
   * cannot grow a segment without limit, and HLS target durations stay constant.
   * Default: no limit (cuts only at keyframes).
   */
  maxDuration?: number;
  /** A segment reaching this many bytes is cut at the next video frame start. Default 64 MiB. */
  maxBytes?: number;
}

export const DEFAULT_MAX_SEGMENT_BYTES = 64 * 1024 * 1024;

/**
 * The longest segment an HLS playlist with target duration `target` may list without raising
 * EXT-X-TARGETDURATION (RFC 8216: each EXTINF, rounded, must not exceed it).
 */
export function maxSegmentDurationFor(target: number): number {
  return Math.max(1, Math.round(target)) + 0.49;
}

export interface TsSplitterEvents {
  segment: [LiveSegment];
  error: [Error];
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
  private readonly reader = new TsPacketReader();
  private readonly map = new TsProgramMap();
  private patPacket?: Buffer;
  private pmtPacket?: Buffer;
  private current?: LiveSegment;
  private currentStartPts = 0;
  private lastPts?: number;
  private lastUnwrapped?: number;
  private frameInterval = 1 / 30;
  private nextSeq: number;
  private discontinuityNext: boolean;
  private currentBytes = 0;
  private lastKeyPts?: number;
  /** Seconds between the last two keyframes seen (undefined until two were seen). */
  keyframeInterval: number | undefined;
  /** Segments cut without a keyframe (duration or size limit). */
  forcedCuts = 0;
  /** Packets of the current segment not yet flushed (pushed in one chunk per input write). */
  private pending: Buffer[] = [];
  ended = false;

  constructor(private readonly opts: SplitterOptions) {
    super();
    this.nextSeq = opts.firstSeq ?? 0;
    this.discontinuityNext = opts.discontinuityFirst ?? false;
  }

  get hasVideo(): boolean {
    return this.map.videoPid >= 0;
  }

  /** Feed bytes of the TS stream. */
  write(chunk: Buffer): void {
    if (this.ended) return;
    this.reader.push(chunk, (p) => this.packet(p));
    this.flush();
  }

  /** The input ended: complete the open segment. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.flush();
    if (this.current) {
      const last = this.lastPts ?? this.currentStartPts;
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

  private packet(p: TsPacket): void {
    const { pid, pusi, rai, payload } = p;
    if (this.map.observe(p)) {
      // Program tables are re-inserted at each segment start, not copied through.
      if (pid === 0) this.patPacket = Buffer.from(p.raw);
      else this.pmtPacket = Buffer.from(p.raw);
      return;
    }
    if (pid === this.map.audioPid && pusi && this.map.videoPid < 0 && this.pmtPacket) {
      // Audio-only stream: every audio frame is a random access point, so cut on audio PES starts.
      const raw = readPesPts(payload);
      if (raw !== undefined) {
        const pts = this.unwrap(raw) / 90000;
        if (!this.current || pts - this.currentStartPts >= this.opts.targetDuration - 0.05) this.cut(pts);
        else if (this.currentBytes >= (this.opts.maxBytes ?? DEFAULT_MAX_SEGMENT_BYTES)) this.cut(pts);
        if (this.lastPts === undefined || pts > this.lastPts) this.lastPts = pts;
      }
    }
    if (pid === this.map.videoPid && pusi) {
      const raw = readPesPts(payload);
      if (raw !== undefined) {
        const pts = this.unwrap(raw) / 90000;
        const headerLen = payload.length > 8 ? 9 + payload[8]! : payload.length;
        const key = rai || containsKeyframeNal(payload.subarray(headerLen), this.map.videoIsHevc);
        if (this.lastPts !== undefined && pts > this.lastPts) {
          const d = pts - this.lastPts;
          if (d < 0.2) this.frameInterval = this.frameInterval * 0.9 + d * 0.1;
        }
        if (key) {
          if (this.lastKeyPts !== undefined && pts > this.lastKeyPts) this.keyframeInterval = pts - this.lastKeyPts;
          this.lastKeyPts = pts;
        }
        const elapsed = this.current ? pts - this.currentStartPts : 0;
        if (key && (!this.current || elapsed >= this.opts.targetDuration - this.frameInterval / 2)) {
          this.cut(pts, true);
        } else if (this.current && this.overLimit(elapsed)) {
          this.forcedCuts++;
          this.cut(pts, false);
        }
        if (this.lastPts === undefined || pts > this.lastPts) this.lastPts = pts;
      }
    }
    if (this.current) {
      this.pending.push(Buffer.from(p.raw));
      this.currentBytes += p.raw.length;
    }
  }

  /** Would the next frame make the open segment longer or larger than allowed? */
  private overLimit(elapsed: number): boolean {
    const max = this.opts.maxDuration;
    if (max !== undefined && elapsed + this.frameInterval > max) return true;
    return this.currentBytes >= (this.opts.maxBytes ?? DEFAULT_MAX_SEGMENT_BYTES);
  }

  /**
   * The 33-bit PTS made continuous: of raw + k * 2^33, the value nearest the last one. Nearest,
   * not "smaller means wrapped": with B-frames, PTS go back and forth across the wrap.
   */
  private unwrap(raw: number): number {
    if (this.lastUnwrapped === undefined) {
      this.lastUnwrapped = raw;
      return raw;
    }
    const k = Math.round((this.lastUnwrapped - raw) / PTS_WRAP);
    const value = raw + k * PTS_WRAP;
    this.lastUnwrapped = value;
    return value;
  }

  private cut(pts: number, keyframe = true): void {
    this.flush();
    if (this.current) this.finishCurrent(pts);
    const seg = new LiveSegment(this.nextSeq++, pts, this.discontinuityNext);
    seg.startsWithKeyframe = keyframe;
    seg.keyframeInterval = this.keyframeInterval;
    this.currentBytes = 0;
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
}
