// Passthrough: the source segments are the only rendition; no orchestrator involved.
import type { Processor, Stream } from "../hub/stream.ts";
import type { LiveSegment } from "../../core/live-segment.ts";
import type { Rendition, SourceInfo } from "../hub/types.ts";

export const SOURCE_RENDITION = "source";

/** The source as a rendition, bandwidth measured from a segment. */
export function sourceRendition(info: SourceInfo, segment: LiveSegment): Rendition {
  const measured = segment.duration > 0 ? (segment.size * 8) / segment.duration : 0;
  return {
    name: SOURCE_RENDITION,
    width: info.width ?? 0,
    height: info.height ?? 0,
    bandwidth: Math.max(1, Math.round(measured * 1.2)),
    codecs: info.hlsCodecs ?? "",
    fps: info.fps,
    source: true,
  };
}

export function createPassthroughProcessor(stream: Stream): Processor {
  let chain: Promise<void> = Promise.resolve();
  let announced = false;
  const onSegment = (seg: LiveSegment) => {
    // Publish at once (output adapters may stream its bytes); announce the rendition first.
    chain = chain.then(async () => {
      if (!announced) {
        try {
          await seg.bytes();
        } catch {
          return;
        }
        const info = await stream.sourceReady();
        stream.outputs.setRenditions([sourceRendition(info, seg)]);
        announced = true;
      }
      stream.outputs.publish(SOURCE_RENDITION, seg);
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
