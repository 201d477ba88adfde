// A media segment that can be read while it is still being written.
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";

/**
 * A partial segment (an LL-HLS part): a byte range of its segment, known once the next part starts
 * or the segment ends. Parts follow each other without gaps and cover the whole segment.
 */
export interface SegmentPart {
  /** Position within the segment, from 0. */
  index: number;
  /** Byte offset in the segment. */
  offset: number;
  size: number;
  /** Seconds. */
  duration: number;
  /** Starts with a keyframe (and the program tables): decodable without the parts before it. */
  independent: boolean;
}

export class LiveSegment extends EventEmitter {
  readonly chunks: Buffer[] = [];
  size = 0;
  complete = false;
  /** Set when the producer aborted the segment (its bytes must not be used). */
  aborted = false;
  /** Seconds; known once complete. */
  duration = 0;
  /** Wall-clock ms when the first byte arrived. */
  readonly startedAt = Date.now();
  completedAt = 0;
  /** False when the segment was cut without a keyframe (a publisher with too long a GOP). */
  startsWithKeyframe = true;
  /** The publisher's keyframe interval (s) when the segment was cut, if known. */
  keyframeInterval: number | undefined;
  /** Completed parts, in order ("part" is emitted for each); empty when the producer cuts none. */
  readonly parts: SegmentPart[] = [];
  /** The producer cuts parts of about this many seconds (set before the first byte), else undefined. */
  partTarget: number | undefined;

  constructor(
    /** Sequence number within its producer (source or rendition). */
    readonly seq: number,
    /** Presentation time of the first frame, seconds (90 kHz clock / 90000). */
    readonly startPts: number,
    /** True when this segment does not continue the previous one's timeline. */
    readonly discontinuity = false,
  ) {
    super();
    this.setMaxListeners(100);
  }

  push(chunk: Buffer): void {
    if (this.complete) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.emit("data", chunk);
  }

  /** The producer closed a part (its bytes were pushed already). */
  addPart(part: SegmentPart): void {
    if (this.complete) return;
    this.parts.push(part);
    this.emit("part", part);
  }

  end(durationSec: number): void {
    if (this.complete) return;
    this.duration = durationSec;
    this.complete = true;
    this.completedAt = Date.now();
    this.emit("end");
  }

  /** The segment could not be produced; `durationSec` (if known) sizes its gap in playlists. */
  abort(reason: string, durationSec = 0): void {
    if (this.complete) return;
    this.duration = durationSec;
    this.aborted = true;
    this.complete = true;
    this.completedAt = Date.now();
    this.emit("abort", new Error(reason));
    this.emit("end");
  }

  /** Whole bytes once complete. Rejects if aborted. */
  async bytes(): Promise<Buffer> {
    if (!this.complete) await new Promise<void>((resolve) => this.once("end", () => resolve()));
    if (this.aborted) throw new Error(`segment ${this.seq} aborted`);
    return Buffer.concat(this.chunks, this.size);
  }

  /** A stream of the bytes so far, then the rest as they arrive. */
  reader(): Readable {
    return Readable.from(this.iterate(), { objectMode: false });
  }

  async *iterate(): AsyncGenerator<Buffer> {
    let index = 0;
    for (;;) {
      while (index < this.chunks.length) yield this.chunks[index++]!;
      if (this.complete) {
        if (this.aborted) throw new Error(`segment ${this.seq} aborted`);
        return;
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.off("data", wake);
          this.off("end", wake);
          resolve();
        };
        this.on("data", wake);
        this.on("end", wake);
      });
    }
  }
}

/** A complete segment built from whole bytes (renditions downloaded from an orchestrator). */
export function completeSegment(seq: number, startPts: number, bytes: Buffer, duration: number, discontinuity = false): LiveSegment {
  const seg = new LiveSegment(seq, startPts, discontinuity);
  seg.push(bytes);
  seg.end(duration);
  return seg;
}
