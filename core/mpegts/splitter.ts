// Cuts a continuous MPEG-TS byte stream into keyframe-aligned segments as bytes arrive
// (on audio packet starts when the stream has no video).
// Each segment starts with the latest PAT and PMT, then the video keyframe's packet,
// so it is independently decodable. Segment bytes are pushed while they are produced; with
// `partTarget` each segment is also cut into parts (LL-HLS partial segments).
import { EventEmitter } from "node:events";
import { LiveSegment } from "../live-segment.ts";
import { parsePacket, readPesDts, readPesPts, TS_PACKET, TsPacketReader, TsProgramMap, type TsPacket } from "./packets.ts";

const PTS_WRAP = 2 ** 33;

export interface SplitterOptions {
  /** Target duration in seconds: a cut happens at the first keyframe at or after it. */
  targetDuration: number;
  /**
   * The first segment's target (seconds), when it should be shorter: a live stream's first
   * playlist can only list a complete segment, so a short first one lets players start sooner.
   * Default: targetDuration.
   */
  firstTargetDuration?: number;
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
  /**
   * Also cut every segment into parts of at most this many seconds (LL-HLS partial segments), at
   * video frame starts (audio frame starts without video); timed by DTS, so B-frames do not
   * shorten or stretch them. A part that starts with a keyframe gets the program tables in front,
   * so a player can start there. Default: no parts.
   */
  partTarget?: number;
}

/** A part may end early at a keyframe once it has this share of the part target (RFC 8216bis: 85 %). */
const MIN_PART_SHARE = 0.85;
/** Audio-only parts end within this many seconds of the part target (about one AAC frame). */
const AUDIO_PART_TOLERANCE_S = 0.025;
/** Timestamp jitter a part may exceed its target by (FLV times are whole milliseconds). */
const PART_SLACK_S = 0.002;

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
  /**
   * Bytes of the current segment not yet flushed (pushed in one chunk per input write). Packets
   * are kept as views of the input (runs of adjacent packets become one view), not copied: the
   * input chunks must not be reused by the caller after `write`.
   */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private run?: ArrayBufferLike;
  private runOffset = 0;
  private runLength = 0;
  /** The open part: its byte offset in the current segment, start time (s) and kind. */
  private partOffset = 0;
  private partStart = 0;
  private partIndependent = true;
  private partIndex = 0;
  /** Decode-time spacing of video frames (seconds), for part cuts: regular even with B-frames. */
  private dtsInterval = 1 / 30;
  private lastDts?: number;
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
    if (this.reader.buffered === 0 && chunk.length % TS_PACKET === 0) this.writeAligned(chunk);
    else this.reader.push(chunk, (p) => this.packet(p));
    this.flush();
  }

  /**
   * Whole packets (what FlvToTs and most producers write): only packets that start a PES or carry
   * a table are parsed; the others, most of a video frame, just extend the pending run. Saves an
   * object per packet (measured: a third of the splitter's CPU at 2.5 Mb/s, bench/ingest.ts).
   */
  private writeAligned(chunk: Buffer): void {
    for (let off = 0; off < chunk.length; off += TS_PACKET) {
      if (chunk[off] !== 0x47) {
        this.reader.push(chunk.subarray(off), (p) => this.packet(p));
        return;
      }
      const b1 = chunk[off + 1]!;
      const pid = ((b1 & 0x1f) << 8) | chunk[off + 2]!;
      if ((b1 & 0x40) !== 0 || pid === 0 || pid === this.map.pmtPid) this.packet(parsePacket(chunk.subarray(off, off + TS_PACKET)));
      else if (this.current) this.keepRange(chunk.buffer, chunk.byteOffset + off, TS_PACKET);
    }
  }

  /** The input ended: complete the open segment. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.flush();
    if (this.current) {
      const last = this.lastPts ?? this.currentStartPts;
      // With parts, the DTS spacing is known: B-frames make the PTS-based estimate too long.
      this.finishCurrent(last + (this.opts.partTarget === undefined ? this.frameInterval : this.dtsInterval));
    }
  }

  /** Abort the open segment (producer failed). */
  abort(reason: string): void {
    this.ended = true;
    this.run = undefined;
    this.pending = [];
    this.pendingBytes = 0;
    this.current?.abort(reason);
    this.current = undefined;
  }

  private flush(): void {
    this.closeRun();
    if (this.current && this.pending.length) {
      this.current.push(this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes));
    }
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Appends one packet (a view of the input) to the pending bytes, extending the current run when adjacent. */
  private keep(raw: Buffer): void {
    this.keepRange(raw.buffer, raw.byteOffset, raw.length);
  }

  private keepRange(buffer: ArrayBufferLike, byteOffset: number, length: number): void {
    if (this.run === buffer && byteOffset === this.runOffset + this.runLength) {
      this.runLength += length;
    } else {
      this.closeRun();
      this.run = buffer;
      this.runOffset = byteOffset;
      this.runLength = length;
    }
    this.pendingBytes += length;
    this.currentBytes += length;
  }

  private closeRun(): void {
    if (this.run === undefined) return;
    this.pending.push(Buffer.from(this.run, this.runOffset, this.runLength));
    this.run = undefined;
  }

  /** Adds stored packets (the program tables) to the pending bytes. */
  private keepCopy(bytes: Buffer): void {
    this.closeRun();
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }

  /** Closes the open part at `time` (s) and opens the next one at the current end of the segment. */
  private cutPart(time: number, independent: boolean): void {
    const seg = this.current!;
    this.flush();
    if (seg.size > this.partOffset) {
      seg.addPart({ index: this.partIndex++, offset: this.partOffset, size: seg.size - this.partOffset, duration: Math.max(0, time - this.partStart), independent: this.partIndependent });
    }
    this.partOffset = seg.size;
    this.partStart = time;
    this.partIndependent = independent;
    if (independent) this.pushTables();
  }

  /** Closes the last part of the current segment so that the parts add up to the segment's duration. */
  private closeLastPart(segmentDuration: number): void {
    const seg = this.current!;
    if (this.opts.partTarget === undefined || seg.size <= this.partOffset) return;
    const before = seg.parts.reduce((sum, p) => sum + p.duration, 0);
    seg.addPart({ index: this.partIndex++, offset: this.partOffset, size: seg.size - this.partOffset, duration: Math.max(0, segmentDuration - before), independent: this.partIndependent });
  }

  private pushTables(): void {
    if (this.patPacket) this.keepCopy(this.patPacket);
    if (this.pmtPacket) this.keepCopy(this.pmtPacket);
  }

  /** Should a part end before a frame at `time` (s)? Yes once the frame after it would take the part past the target (`tolerance`: about a frame). */
  private partDue(time: number, key: boolean, tolerance: number): boolean {
    const target = this.opts.partTarget;
    if (target === undefined || !this.current) return false;
    const elapsed = time - this.partStart;
    return elapsed >= target - tolerance || (key && elapsed >= target * MIN_PART_SHARE);
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
        if (!this.current || pts - this.currentStartPts >= this.target() - 0.05) this.cut(pts, true, pts);
        else if (this.currentBytes >= (this.opts.maxBytes ?? DEFAULT_MAX_SEGMENT_BYTES)) this.cut(pts, true, pts);
        else if (this.partDue(pts, false, AUDIO_PART_TOLERANCE_S)) this.cutPart(pts, true);
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
        // Parts are timed by decode time: frames arrive in decode order, and so do the bytes.
        const dts = this.opts.partTarget === undefined ? pts : this.unwrapNear(readPesDts(payload) ?? raw, pts) / 90000;
        if (this.lastDts !== undefined && dts > this.lastDts && dts - this.lastDts < 0.2) this.dtsInterval = this.dtsInterval * 0.9 + (dts - this.lastDts) * 0.1;
        this.lastDts = dts;
        if (key && (!this.current || elapsed >= this.target() - this.frameInterval / 2)) {
          this.cut(pts, true, dts);
        } else if (this.current && this.overLimit(elapsed)) {
          this.forcedCuts++;
          this.cut(pts, false, dts);
        } else if (this.partDue(dts, key, this.dtsInterval - PART_SLACK_S)) {
          this.cutPart(dts, key);
        }
        if (this.lastPts === undefined || pts > this.lastPts) this.lastPts = pts;
      }
    }
    if (this.current) this.keep(p.raw);
  }

  /** The open segment's target duration (seconds). */
  private target(): number {
    const first = this.opts.firstTargetDuration;
    return first !== undefined && this.current?.seq === (this.opts.firstSeq ?? 0) ? first : this.opts.targetDuration;
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
  /** A 33-bit timestamp made continuous next to `near` (90 kHz, already unwrapped), without moving the unwrap state. */
  private unwrapNear(raw: number, nearSeconds: number): number {
    const near = nearSeconds * 90000;
    return raw + Math.round((near - raw) / PTS_WRAP) * PTS_WRAP;
  }

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

  /** Starts a new segment at `pts`; `partStart` is the time its first part is measured from (the frame's DTS). */
  private cut(pts: number, keyframe: boolean, partStart: number): void {
    this.flush();
    if (this.current) this.finishCurrent(pts);
    const seg = new LiveSegment(this.nextSeq++, pts, this.discontinuityNext);
    seg.startsWithKeyframe = keyframe;
    seg.keyframeInterval = this.keyframeInterval;
    seg.partTarget = this.opts.partTarget;
    this.currentBytes = 0;
    this.discontinuityNext = false;
    this.current = seg;
    this.currentStartPts = pts;
    this.partOffset = 0;
    this.partStart = partStart;
    this.partIndependent = keyframe;
    this.partIndex = 0;
    this.emit("segment", seg);
    this.pushTables();
    this.flush();
  }

  private finishCurrent(endPts: number): void {
    const seg = this.current!;
    const duration = Math.max(0, endPts - this.currentStartPts);
    this.closeLastPart(duration);
    this.current = undefined;
    seg.end(duration);
  }
}
