// A media segment that can be read while it is still being written.
//
// Its bytes may be slices of pooled slabs (live ingest: core/slab-pool.ts), which go back to the
// pool once the segment is released. Who reads the bytes says how long they need them:
// - `retain()` / `views()`: counted holders (the HLS window, each HLS response). A segment is
//   released when it is complete and the last holder let go; `views()` then throws.
// - `bytes()` copies; called before the segment completes it holds it until the copy is made, and
//   after a release it rejects (a clear error, never another stream's bytes).
// - `chunks`, `iterate()`, `reader()` and "data" listeners hand out views with no end the segment
//   could know: they pin it, and a pinned segment never gives its slabs back (the GC frees them as
//   before pooling). So a consumer that knows nothing of holding is safe by default.
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import { ingestSlabs } from "./slab-pool.ts";

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

/** Lets go of a hold on a segment; calling it again does nothing. */
export type Release = () => void;

export class LiveSegment extends EventEmitter {
  private readonly pushed: Buffer[] = [];
  /** Pooled slabs whose slices this segment holds (retained once each). */
  private slabs?: ArrayBufferLike[];
  private lastMemory?: ArrayBufferLike;
  /** Holders; the producer is one until the segment completes. */
  private holders = 1;
  private pinned = false;
  /** The bytes were given back (complete, no holder left, not pinned): they can no longer be read. */
  released = false;
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
    this.on("newListener", (event: string | symbol) => {
      if (event === "data") this.pin();
    });
  }

  push(chunk: Buffer): void {
    if (this.complete) return;
    const memory = chunk.buffer;
    if (memory !== this.lastMemory) {
      this.lastMemory = memory;
      if (ingestSlabs.retain(memory)) {
        if (this.pinned) ingestSlabs.abandon(memory);
        else (this.slabs ??= []).push(memory);
      }
    }
    this.pushed.push(chunk);
    this.size += chunk.length;
    this.emit("data", chunk);
  }

  /**
   * The bytes pushed so far, as views. Pins the segment: whoever takes them is not counted, so its
   * slabs are never reused (use `retain` and `views` to read without pinning).
   */
  get chunks(): readonly Buffer[] {
    this.pin();
    return this.views();
  }

  /** The segment's memory is left to the GC, never reused (see the file's head). */
  pin(): void {
    if (this.pinned || this.released) return;
    this.pinned = true;
    const slabs = this.slabs;
    this.slabs = undefined;
    if (slabs) for (const memory of slabs) ingestSlabs.abandon(memory);
  }

  /**
   * One more holder of the bytes, until the returned function is called; undefined when they were
   * released already (only a segment of pooled slabs is ever released). While held, `views()` stays valid.
   */
  retain(): Release | undefined {
    if (this.released) return undefined;
    this.holders++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.letGo();
    };
  }

  /** The bytes pushed so far, as views; only for a holder (see `retain`), and only while it holds. */
  views(): readonly Buffer[] {
    if (this.released) throw new Error(`segment ${this.seq}: its bytes were released`);
    return this.pushed;
  }

  private letGo(): void {
    // Only pooled memory is given back (a pinned segment abandoned its slabs): other bytes stay
    // readable for as long as anyone has the segment.
    if (--this.holders > 0 || this.released || !this.slabs) return;
    this.released = true;
    this.pushed.length = 0;
    const slabs = this.slabs;
    this.slabs = undefined;
    if (slabs) for (const memory of slabs) ingestSlabs.release(memory);
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
    this.letGo(); // the producer's hold
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
    this.letGo(); // the producer's hold
  }

  /** Whole bytes (a copy) once complete. Rejects if aborted, or if the bytes were released. */
  async bytes(): Promise<Buffer> {
    if (!this.complete) {
      const release = this.retain();
      try {
        await new Promise<void>((resolve) => this.once("end", () => resolve()));
        return this.copy();
      } finally {
        release?.();
      }
    }
    return this.copy();
  }

  private copy(): Buffer {
    if (this.aborted) throw new Error(`segment ${this.seq} aborted`);
    return Buffer.concat(this.views(), this.size);
  }

  /** A stream of the bytes so far, then the rest as they arrive. */
  reader(): Readable {
    return Readable.from(this.iterate(), { objectMode: false });
  }

  /** The bytes so far, then the rest as they arrive (pins the segment, see `chunks`). */
  async *iterate(): AsyncGenerator<Buffer> {
    const chunks = this.chunks;
    let index = 0;
    for (;;) {
      while (index < chunks.length) yield chunks[index++]!;
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
