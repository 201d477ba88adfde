// One rendition's sliding window of segments: msn numbering, discontinuities, the segment being
// written (listed part by part for LL-HLS), and waiting for the window to change.
import { EventEmitter } from "node:events";
import type { LiveSegment, SegmentPart } from "../../core/live-segment.ts";
import type { LiveEdge } from "./blocking-reload.ts";
import type { PlaylistEntry } from "./playlist.ts";
import type { SegmentBytes } from "./segment-bytes.ts";

export interface StoredSegment extends PlaylistEntry {
  media?: SegmentBytes;
  /** Byte ranges of the segment, when it was cut into parts. */
  partRanges?: SegmentPart[];
}

export interface OpenSegment {
  msn: number;
  segment: LiveSegment;
  discontinuity: boolean;
  programDateTime: number;
  /** Part bytes joined from the segment's chunks on first request. */
  served: Map<number, Buffer>;
}

/** Where a rendition's timeline stands (cluster mode: the stream's next owner continues it). */
export interface HlsContinuation {
  nextMsn: number;
  discontinuities: number;
}

export class RenditionWindow extends EventEmitter<{ update: [] }> {
  segments: StoredSegment[] = [];
  nextMsn = 0;
  /** Discontinuities of segments no longer stored. */
  discontinuitySequence = 0;
  pendingDiscontinuity = false;
  ended = false;
  maxDuration = 0;
  open?: OpenSegment;
  /** Set once a segment cut into parts arrives: the rendition is served as low-latency HLS from then on. */
  partTarget?: number;
  /** Keeps publish order even when segments complete out of order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly window: number,
    private readonly keep: number,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** A new session after the stream ended restarts the timeline. */
  private resume(): void {
    if (!this.ended) return;
    this.ended = false;
    this.pendingDiscontinuity = this.segments.length > 0 || this.open !== undefined;
  }

  /** The segment now being written: its parts are listed as they complete. */
  start(segment: LiveSegment): OpenSegment {
    this.resume();
    const open: OpenSegment = {
      msn: this.nextMsn++,
      segment,
      discontinuity: this.pendingDiscontinuity,
      programDateTime: segment.startedAt,
      served: new Map(),
    };
    this.pendingDiscontinuity = false;
    this.partTarget ??= segment.partTarget;
    this.open = open;
    const onPart = () => this.emit("update");
    segment.on("part", onPart);
    segment.once("end", () => segment.off("part", onPart));
    this.emit("update");
    return open;
  }

  /** A complete segment joins the window (`open`: it was listed by parts while written). */
  add(entry: Omit<StoredSegment, "msn" | "discontinuity">, open?: OpenSegment): void {
    if (!open) this.resume();
    const seg: StoredSegment = {
      ...entry,
      msn: open ? open.msn : this.nextMsn++,
      discontinuity: open ? open.discontinuity : this.pendingDiscontinuity,
    };
    if (open && this.open === open) this.open = undefined;
    if (!open) this.pendingDiscontinuity = false;
    this.maxDuration = Math.max(this.maxDuration, seg.duration);
    this.segments.push(seg);
    while (this.segments.length > this.keep) {
      const old = this.segments.shift()!;
      old.media?.dispose();
      if (old.discontinuity) this.discontinuitySequence++;
    }
    this.emit("update");
  }

  end(): void {
    this.ended = true;
    this.emit("update");
  }

  /** Lets go of every stored segment's bytes (the window is dropped or starts over). */
  dispose(): void {
    for (const s of this.segments) s.media?.dispose();
    this.segments = [];
  }

  /** Where the timeline stands: the next msn and the discontinuity tags before it. */
  continuation(): HlsContinuation {
    const tagged = this.segments.filter((s) => s.discontinuity).length + (this.open?.discontinuity ? 1 : 0);
    return { nextMsn: this.nextMsn, discontinuities: this.discontinuitySequence + tagged };
  }

  /** Continue another node's timeline (cluster takeover): its numbers, after a discontinuity. */
  continueFrom(c: HlsContinuation): void {
    if (c.nextMsn <= this.nextMsn) return;
    this.dispose();
    Object.assign(this, { segments: [], open: undefined, nextMsn: c.nextMsn, discontinuitySequence: c.discontinuities, pendingDiscontinuity: true });
  }

  /** Segments listed in the playlist (the newest `window`); older ones stay fetchable a while. */
  listed(): StoredSegment[] {
    return this.segments.slice(-this.window);
  }

  discontinuitiesBefore(first: StoredSegment | undefined): number {
    if (!first) return this.discontinuitySequence;
    let n = 0;
    for (const s of this.segments) {
      if (s === first) break;
      if (s.discontinuity) n++;
    }
    return this.discontinuitySequence + n;
  }

  edge(): LiveEdge {
    const last = this.segments[this.segments.length - 1];
    return {
      lastMsn: last ? last.msn : -1,
      lastParts: last?.partRanges?.length ?? 0,
      open: this.open ? { msn: this.open.msn, parts: this.open.segment.parts.length } : undefined,
      partTarget: this.partTarget,
      ended: this.ended,
    };
  }

  /** Resolves true once `ready()` holds, false after `timeoutMs`. */
  until(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!ready()) return;
        done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.off("update", check);
        resolve(ok);
      };
      this.on("update", check);
    });
  }

  enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task, task);
  }
}
