// Thumbnails of live streams: the last keyframe of each rendition's latest complete segment, cut once per segment when asked.
import type { LiveSegment, Release } from "../../core/live-segment.ts";
import { metrics } from "../../core/metrics.ts";
import type { StreamHub } from "../hub/hub.ts";
import type { Stream } from "../hub/stream.ts";
import { SOURCE_RENDITION } from "../processors/passthrough.ts";
import { lastKeyframeJpeg } from "./keyframe-jpeg.ts";

export interface Thumbnail {
  jpeg: Buffer;
  /** The segment it was cut from (its duration is how long the thumbnail stays current). */
  segment: LiveSegment;
  /** Changes with every segment (an ETag). */
  tag: string;
}

/** What the service knows of one rendition: its latest complete segment and the extraction for it, if one was asked. */
interface RenditionThumbnail {
  latest?: LiveSegment;
  /** The hold on `latest`. */
  release?: Release;
  cut?: { segment: LiveSegment; jpeg: Promise<Buffer> };
}

export class ThumbnailService {
  private readonly streams = new Map<string, Map<string, RenditionThumbnail>>();
  private readonly watched = new WeakSet<Stream>();
  /** The watched stream of each id, until the hub removes it. */
  private readonly current = new Map<string, Stream>();

  constructor(private readonly hub: StreamHub) {
    hub.on("published", (stream) => this.watch(stream));
    hub.on("removed", (id) => {
      for (const entry of this.streams.get(id)?.values() ?? []) entry.release?.();
      this.streams.delete(id);
      this.current.delete(id);
    });
  }

  private watch(stream: Stream): void {
    if (this.watched.has(stream)) return;
    this.watched.add(stream);
    this.current.set(stream.id, stream);
    stream.outputs.on("segment", (rendition, seg) => {
      // The latest complete segment is read when a thumbnail is asked for: it is held until the next one replaces it.
      const release = seg.retain();
      const done = () => {
        // Not for a stream removed meanwhile: nothing would let go of the hold.
        if (seg.aborted || seg.size === 0 || this.current.get(stream.id) !== stream) return release?.();
        let renditions = this.streams.get(stream.id);
        if (!renditions) this.streams.set(stream.id, (renditions = new Map()));
        const entry = renditions.get(rendition) ?? {};
        entry.release?.();
        entry.latest = seg;
        entry.release = release;
        // The previous segment's JPEG is dropped with it: a request from now on wants the new one.
        if (entry.cut && entry.cut.segment !== seg) entry.cut = undefined;
        renditions.set(rendition, entry);
      };
      // A segment may arrive complete (passthrough publishes its first ones once the source is known).
      if (seg.complete) done();
      else seg.once("end", done);
    });
  }

  /**
   * The thumbnail of a rendition (default: the source, else the stream's first rendition), or
   * undefined when no segment of it completed yet. Concurrent callers share one ffmpeg run.
   */
  async thumbnail(streamId: string, rendition?: string): Promise<Thumbnail | undefined> {
    const renditions = this.streams.get(streamId);
    if (!renditions) return undefined;
    const name = rendition ?? (renditions.has(SOURCE_RENDITION) ? SOURCE_RENDITION : this.hub.get(streamId)?.outputs.renditions[0]?.name ?? [...renditions.keys()][0]);
    const entry = name === undefined ? undefined : renditions.get(name);
    const segment = entry?.latest;
    if (!entry || !segment) return undefined;
    if (entry.cut?.segment !== segment) {
      const jpeg = segment.bytes().then(lastKeyframeJpeg);
      jpeg.then(
        () => metrics.thumbnailExtractions.inc({ result: "ok" }),
        () => {
          metrics.thumbnailExtractions.inc({ result: "error" });
          if (entry.cut?.jpeg === jpeg) entry.cut = undefined; // the next request tries again
        },
      );
      entry.cut = { segment, jpeg };
    }
    return { jpeg: await entry.cut.jpeg, segment, tag: `"${streamId}-${segment.startedAt}-${segment.seq}"` };
  }
}
