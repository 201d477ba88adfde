// Packages a stream's output renditions into live HLS: a sliding window per rendition,
// discontinuities when the timeline breaks, gaps for segments that could not be made, and for
// renditions whose segments are cut into parts, low-latency HLS (parts, preload hint, blocking reload).
//
// Parts are MPEG-TS byte ranges of the segment being written, each served at its own URI
// ("<msn>.<part>.ts"), not fMP4. The same segments feed transcoding, live AI and WHEP and are
// what every regular HLS player already gets; hls.js (1.7) transmuxes TS parts the same way as
// TS segments, treating consecutive parts of one segment as one contiguous stream (its
// transmuxer-interface `contiguous` rule), and can start at any part marked INDEPENDENT (those
// begin with a keyframe and the program tables). Own URIs rather than BYTERANGE of the growing
// segment: no Range requests on an unfinished resource, and each part is a small immutable
// response a CDN can cache. Players that do not know the LL tags ignore them and read the
// same playlist as before.
import { EventEmitter } from "node:events";
import type { Stream } from "../hub/stream.ts";
import type { LiveSegment, SegmentPart } from "../../core/live-segment.ts";
import type { Rendition } from "../hub/types.ts";
import { satisfies, tooFarAhead, type BlockingRequest } from "./blocking-reload.ts";
import { mediaPlaylist, multivariantPlaylist, type PartEntry, type PlaylistEntry } from "./playlist.ts";
import { RenditionWindow, type HlsContinuation } from "./rendition-window.ts";
import { heldPart, SegmentBytes, type HeldBytes } from "./segment-bytes.ts";

export type { HlsContinuation } from "./rendition-window.ts";

/** PART-HOLD-BACK in part targets: RFC 8216bis asks for at least 2, Apple recommends 3. */
export const PART_HOLD_BACK_PARTS = 3;
/** Parts stay listed for segments within this many target durations of the live edge (RFC 8216bis: at most 3). */
const PART_LISTING_TARGETS = 3;

export interface PackagerOptions {
  targetDuration: number;
  window: number;
}

/** A media playlist answer: the text, or why there is none. */
export type PlaylistAnswer = { status: 200; text: string } | { status: 400 | 404 | 503; message: string };

export class HlsPackager {
  private readonly windows = new Map<string, RenditionWindow>();
  private renditions: Rendition[] = [];
  private readonly unsubscribe: () => void;
  /** Fires when a rendition or window changes (for requests waiting on the first segment). */
  private readonly changes = new EventEmitter<{ change: [] }>();
  private closed = false;

  constructor(
    readonly stream: Stream,
    private readonly opts: PackagerOptions,
  ) {
    this.changes.setMaxListeners(0);
    const outputs = stream.outputs;
    const onRenditions = (list: Rendition[]) => {
      this.renditions = list;
      this.changes.emit("change");
    };
    const onSegment = (name: string, seg: LiveSegment) => this.onSegment(name, seg);
    const onDiscontinuity = () => {
      for (const w of this.windows.values()) w.pendingDiscontinuity = true;
    };
    const onEnded = () => {
      for (const w of this.windows.values()) w.enqueue(async () => w.end());
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
      // Kept beyond the listed window so a segment stays fetchable for its duration plus the
      // playlist's after it leaves the playlist (RFC 8216 6.2.2).
      w = new RenditionWindow(this.opts.window, this.opts.window * 2 + 2);
      w.on("update", () => this.changes.emit("change"));
      this.windows.set(name, w);
    }
    return w;
  }

  private onSegment(name: string, seg: LiveSegment): void {
    const w = this.window(name);
    if (seg.discontinuity) w.pendingDiscontinuity = true;
    // Held from now (it may still be written) until it leaves the window.
    const hold = seg.retain();
    w.enqueue(async () => {
      if (seg.discontinuity) w.pendingDiscontinuity = true;
      // A segment cut into parts is listed part by part while it is written.
      const open = seg.partTarget !== undefined && !seg.complete ? w.start(seg) : undefined;
      if (!seg.complete) await new Promise<void>((resolve) => seg.once("end", () => resolve()));
      // An aborted segment (e.g. every transcode attempt failed) is listed as a gap, never a stall.
      const media = seg.aborted || !hold ? undefined : new SegmentBytes(seg, hold);
      if (!media) hold?.();
      if (this.closed) return media?.dispose();
      if (media && open) media.adopt(open.served);
      const parts = media && seg.parts.length > 0 ? seg.parts : undefined;
      w.add({ duration: seg.duration || this.opts.targetDuration, programDateTime: seg.startedAt, gap: media === undefined, media, partRanges: parts }, open);
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

  /**
   * The multivariant playlist, waiting up to `timeoutMs` for the first segment while the stream is
   * live (a player opened as the broadcaster goes live starts instead of seeing a 404).
   */
  async awaitMultivariant(timeoutMs: number): Promise<string | undefined> {
    const now = this.multivariant();
    if (now !== undefined || !this.stream.live) return now;
    await this.untilChange(() => this.renditions.some((r) => this.hasSegments(r.name)) || !this.stream.live, timeoutMs);
    return this.multivariant();
  }

  media(name: string): string | undefined {
    const w = this.windows.get(name);
    if (!w || w.segments.length === 0) return undefined;
    const listed = w.listed();
    const targetDuration = Math.max(Math.round(this.opts.targetDuration), Math.round(w.maxDuration));
    const partTarget = w.partTarget;
    let entries: PlaylistEntry[] = listed;
    if (partTarget !== undefined) {
      // Parts of the newest segments, back to PART_LISTING_TARGETS target durations from the end.
      let fromEnd = w.open ? w.open.segment.parts.reduce((sum, p) => sum + p.duration, 0) : 0;
      let firstWithParts = listed.length;
      for (let i = listed.length - 1; i >= 0; i--) {
        fromEnd += listed[i]!.duration;
        if (fromEnd > PART_LISTING_TARGETS * targetDuration) break;
        firstWithParts = i;
      }
      entries = listed.map((s, i) => (i >= firstWithParts && s.partRanges ? { ...s, parts: s.partRanges.map(partEntry) } : s));
    }
    const open = w.open;
    return mediaPlaylist(
      {
        // RFC 8216: each EXTINF rounded to the nearest integer must be <= the target duration.
        targetDuration,
        mediaSequence: listed[0]!.msn,
        discontinuitySequence: w.discontinuitiesBefore(listed[0]),
        entries,
        ended: w.ended,
        lowLatency:
          partTarget === undefined
            ? undefined
            : {
                partTarget,
                partHoldBack: PART_HOLD_BACK_PARTS * partTarget,
                open: open
                  ? { msn: open.msn, programDateTime: open.programDateTime, discontinuity: open.discontinuity, parts: open.segment.parts.map(partEntry) }
                  : undefined,
                hint: open ? { msn: open.msn, part: open.segment.parts.length } : { msn: w.nextMsn, part: 0 },
              },
      },
      (msn) => `${msn}.ts`,
    );
  }

  /**
   * The media playlist for a player's request: while the stream is live and has no segment yet,
   * waits up to `firstSegmentWaitMs` for the first; a blocking reload (`_HLS_msn`/`_HLS_part`)
   * waits up to `blockingWaitMs` for the segment or part it names (503 when it does not come).
   */
  async awaitMedia(name: string, req: BlockingRequest | undefined, firstSegmentWaitMs: number, blockingWaitMs: number): Promise<PlaylistAnswer> {
    const notReady: PlaylistAnswer = { status: 404, message: "no HLS output for this stream yet (is it live?)" };
    if (!this.hasSegments(name)) {
      if (!this.stream.live) return notReady;
      await this.untilChange(() => this.hasSegments(name) || !this.stream.live, firstSegmentWaitMs);
      if (!this.hasSegments(name)) return notReady;
    }
    const w = this.windows.get(name)!;
    if (req) {
      if (tooFarAhead(w.edge(), req)) return { status: 400, message: `_HLS_msn=${req.msn}${req.part === undefined ? "" : ` _HLS_part=${req.part}`} is too far past the live edge` };
      const ok = await w.until(() => satisfies(w.edge(), req), blockingWaitMs);
      if (!ok) return { status: 503, message: "the requested segment or part did not arrive in time" };
    }
    return { status: 200, text: this.media(name)! };
  }

  private hasSegments(name: string): boolean {
    return (this.windows.get(name)?.segments.length ?? 0) > 0;
  }

  private untilChange(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (ready()) done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      const onEnd = () => done(ready());
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.changes.off("change", check);
        this.stream.off("unpublished", onEnd);
        resolve(ok);
      };
      this.changes.on("change", check);
      this.stream.once("unpublished", onEnd);
    });
  }

  /** Durations (s) of the segments each rendition lists now, oldest first (gaps included, as 0 bytes). */
  segmentDurations(): Array<{ rendition: string; durations: number[]; gaps: number }> {
    return [...this.windows].map(([rendition, w]) => {
      const listed = w.listed();
      return { rendition, durations: listed.map((s) => Math.round(s.duration * 1000) / 1000), gaps: listed.filter((s) => s.gap).length };
    });
  }

  /** Bytes of segments held by the windows (what HLS costs the stream in memory). */
  heldBytes(): number {
    let n = 0;
    for (const w of this.windows.values()) {
      for (const s of w.segments) n += s.media?.size ?? 0;
      n += w.open?.segment.size ?? 0;
    }
    return n;
  }

  /** A segment's bytes for one response (call `release` when it is done), if the window has it. */
  segment(name: string, msn: number): HeldBytes | undefined {
    return this.windows.get(name)?.segments.find((s) => s.msn === msn)?.media?.bytes();
  }

  /** A part's bytes for one response (call `release` when it is done), if it exists now. */
  part(name: string, msn: number, index: number): HeldBytes | undefined {
    const w = this.windows.get(name);
    if (!w) return undefined;
    const open = w.open;
    if (open && open.msn === msn) {
      const range = open.segment.parts[index];
      return range && heldPart(open.segment, () => open.segment.views(), open.served, range);
    }
    const stored = w.segments.find((s) => s.msn === msn);
    const range = stored?.partRanges?.[index];
    if (!stored?.media || !range) return undefined;
    return stored.media.range(range);
  }

  /**
   * A part's bytes; the one the preload hint names (the next part) is waited for, up to
   * `timeoutMs` (RFC 8216bis: a server should hold a request for the hinted part until it exists).
   */
  async awaitPart(name: string, msn: number, index: number, timeoutMs: number): Promise<HeldBytes | undefined> {
    const now = this.part(name, msn, index);
    if (now) return now;
    const w = this.windows.get(name);
    if (!w || w.ended || w.partTarget === undefined) return undefined;
    const next = w.open ? { msn: w.open.msn, part: w.open.segment.parts.length } : { msn: w.nextMsn, part: 0 };
    const upcoming = msn === next.msn ? index === next.part : msn === next.msn + 1 && index === 0;
    if (!upcoming) return undefined;
    await w.until(() => this.hasPart(w, msn, index) || w.ended || w.nextMsn > msn + 1, timeoutMs);
    return this.part(name, msn, index);
  }

  private hasPart(w: RenditionWindow, msn: number, index: number): boolean {
    if (w.open?.msn === msn) return index < w.open.segment.parts.length;
    return (w.segments.find((s) => s.msn === msn)?.partRanges?.length ?? 0) > index;
  }

  /** Each rendition's timeline (cluster mode: stored so the stream's next owner continues it). */
  continuation(): Record<string, HlsContinuation> {
    return Object.fromEntries([...this.windows].map(([name, w]) => [name, w.continuation()]));
  }

  /** Numbers each rendition's next segment after the previous owner's (`EXT-X-DISCONTINUITY` first). */
  continueFrom(state: Record<string, HlsContinuation>): void {
    for (const [name, c] of Object.entries(state)) this.window(name).continueFrom(c);
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const w of this.windows.values()) w.dispose();
  }
}


const partEntry = (p: SegmentPart): PartEntry => ({ index: p.index, duration: p.duration, independent: p.independent });
