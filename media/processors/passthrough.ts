// Passthrough: the source segments are the only rendition; no orchestrator involved.
import type { Processor, Stream } from "../hub/stream.ts";
import type { LiveSegment } from "../../core/live-segment.ts";
import type { Rendition, SourceInfo } from "../hub/types.ts";

export const SOURCE_RENDITION = "source";

/**
 * The source as a rendition, bandwidth measured from a complete segment; 0 (not known yet) from
 * one still being written, which consumers read as "unknown" (no playlist lists it before then).
 */
export function sourceRendition(info: SourceInfo, segment: LiveSegment): Rendition {
  const measured = segment.complete && segment.duration > 0 ? (segment.size * 8) / segment.duration : 0;
  return {
    name: SOURCE_RENDITION,
    width: info.width ?? 0,
    height: info.height ?? 0,
    bandwidth: segment.complete ? Math.max(1, Math.round(measured * 1.2)) : 0,
    codecs: info.hlsCodecs ?? "",
    fps: info.fps,
    source: true,
  };
}

/** Segments held while the source is being probed; later ones are dropped until it is known. */
export const MAX_SEGMENTS_BEFORE_SOURCE = 3;

export function createPassthroughProcessor(stream: Stream): Processor {
  let chain: Promise<void> = Promise.resolve();
  let announced = false;
  let measured = false;
  let held = 0;
  const onSegment = (seg: LiveSegment) => {
    if (!announced && held >= MAX_SEGMENTS_BEFORE_SOURCE) return;
    if (!announced) held++;
    // Held until published: the outputs' consumers take their own holds when they get it.
    const release = seg.retain();
    // Publish at once (output adapters serve its parts while it is written); announce the rendition
    // first, as soon as the source is known. Its bandwidth is measured on the first complete
    // segment: playlists list nothing before that, so no player sees the unmeasured figure.
    chain = chain.then(async () => {
      if (!announced) {
        try {
          const info = await stream.sourceReady();
          if (!announced) stream.outputs.setRenditions([sourceRendition(info, seg)]);
          announced = true;
        } catch {
          release?.();
          return; // the stream ended first
        } finally {
          held--;
        }
      }
      if (!measured) {
        const measure = () => {
          if (measured || seg.aborted) return;
          measured = true;
          stream.outputs.setRenditions([sourceRendition(stream.source, seg)]);
        };
        if (seg.complete) measure();
        else seg.once("end", measure);
      }
      try {
        stream.outputs.publish(SOURCE_RENDITION, seg);
      } finally {
        release?.();
      }
    });
  };
  stream.on("segment", onSegment);
  return {
    async stop() {
      stream.off("segment", onSegment);
    },
    status: () => ({ pipeline: "passthrough", renditions: stream.outputs.renditions.map((r) => r.name) }),
  };
}
