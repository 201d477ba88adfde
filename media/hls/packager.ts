// Packages a stream's output renditions into live HLS: a sliding window per rendition,
// discontinuities when the timeline breaks, gaps for segments that could not be made.
import type { Stream } from "../hub/stream.ts";
import type { LiveSegment } from "../../core/live-segment.ts";
import type { Rendition } from "../hub/types.ts";
import { mediaPlaylist, multivariantPlaylist, type PlaylistEntry } from "./playlist.ts";

interface StoredSegment extends PlaylistEntry {
  bytes?: Buffer;
}

class RenditionWindow {
  segments: StoredSegment[] = [];
  nextMsn = 0;
  /** Discontinuities of segments no longer stored. */
  discontinuitySequence = 0;
  pendingDiscontinuity = false;
  ended = false;
  maxDuration = 0;
  /** Keeps publish order even when segments complete out of order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly window: number,
    private readonly keep: number,
  ) {}

  add(entry: Omit<StoredSegment, "msn" | "discontinuity">): void {
    if (this.ended) {
      // A new session after the stream ended: restart the timeline.
      this.ended = false;
      this.pendingDiscontinuity = this.segments.length > 0;
    }
    const seg: StoredSegment = { ...entry, msn: this.nextMsn++, discontinuity: this.pendingDiscontinuity };
    this.pendingDiscontinuity = false;
    this.maxDuration = Math.max(this.maxDuration, seg.duration);
    this.segments.push(seg);
    while (this.segments.length > this.keep) {
      if (this.segments.shift()!.discontinuity) this.discontinuitySequence++;
    }
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

  enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task, task);
  }
}

export interface PackagerOptions {
  targetDuration: number;
  window: number;
}

export class HlsPackager {
  private readonly windows = new Map<string, RenditionWindow>();
  private renditions: Rendition[] = [];
  private readonly unsubscribe: () => void;

  constructor(
    readonly stream: Stream,
    private readonly opts: PackagerOptions,
  ) {
    const outputs = stream.outputs;
    const onRenditions = (list: Rendition[]) => {
      this.renditions = list;
    };
    const onSegment = (name: string, seg: LiveSegment) => this.onSegment(name, seg);
    const onDiscontinuity = () => {
      for (const w of this.windows.values()) w.pendingDiscontinuity = true;
    };
    const onEnded = () => {
      for (const w of this.windows.values()) w.enqueue(async () => void (w.ended = true));
    };
    const onGap = (name: string, duration: number) => this.addGap(name, duration);
    outputs.on("renditions", onRenditions);
    outputs.on("segment", onSegment);
    outputs.on("discontinuity", onDiscontinuity);
    outputs.on("ended", onEnded);
    outputs.on("gap", onGap);
    this.renditions = outputs.renditions;
    this.unsubscribe = () => {
      outputs.off("renditions", onRenditions);
      outputs.off("segment", onSegment);
      outputs.off("discontinuity", onDiscontinuity);
      outputs.off("ended", onEnded);
      outputs.off("gap", onGap);
    };
  }

  private window(name: string): RenditionWindow {
    let w = this.windows.get(name);
    if (!w) {
      w = new RenditionWindow(this.opts.window, this.opts.window * 2 + 2);
      this.windows.set(name, w);
    }
    return w;
  }

  private onSegment(name: string, seg: LiveSegment): void {
    const w = this.window(name);
    if (seg.discontinuity) w.pendingDiscontinuity = true;
    w.enqueue(async () => {
      let bytes: Buffer | undefined;
      try {
        bytes = await seg.bytes();
      } catch {
        bytes = undefined; // aborted (e.g. every transcode attempt failed): listed as a gap, never a stall
      }
      if (seg.discontinuity) w.pendingDiscontinuity = true;
      w.add({ duration: seg.duration || this.opts.targetDuration, programDateTime: seg.startedAt, gap: bytes === undefined, bytes });
    });
  }

  private addGap(name: string, duration: number): void {
    const w = this.window(name);
    w.enqueue(async () => w.add({ duration, programDateTime: Date.now() - duration * 1000, gap: true }));
  }

  /** The multivariant playlist, or undefined until some rendition has a segment. */
  multivariant(): string | undefined {
    const ready = this.renditions.filter((r) => (this.windows.get(r.name)?.segments.length ?? 0) > 0);
    if (ready.length === 0) return undefined;
    return multivariantPlaylist(ready, (name) => `${encodeURIComponent(name)}/index.m3u8`);
  }

  media(name: string): string | undefined {
    const w = this.windows.get(name);
    if (!w || w.segments.length === 0) return undefined;
    const listed = w.listed();
    return mediaPlaylist(
      {
        // RFC 8216: each EXTINF rounded to the nearest integer must be <= the target duration.
        targetDuration: Math.max(Math.round(this.opts.targetDuration), Math.round(w.maxDuration)),
        mediaSequence: listed[0]!.msn,
        discontinuitySequence: w.discontinuitiesBefore(listed[0]),
        entries: listed,
        ended: w.ended,
      },
      (msn) => `${msn}.ts`,
    );
  }

  /** Durations (s) of the segments each rendition lists now, oldest first (gaps included, as 0 bytes). */
  segmentDurations(): Array<{ rendition: string; durations: number[]; gaps: number }> {
    return [...this.windows].map(([rendition, w]) => {
      const listed = w.listed();
      return { rendition, durations: listed.map((s) => Math.round(s.duration * 1000) / 1000), gaps: listed.filter((s) => s.gap).length };
    });
  }

  segment(name: string, msn: number): Buffer | undefined {
    return this.windows.get(name)?.segments.find((s) => s.msn === msn)?.bytes;
  }

  close(): void {
    this.unsubscribe();
  }
}
