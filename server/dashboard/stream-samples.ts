// The live streams as the dashboard samples them, read from the hub, the HLS audience, the
// WebRTC viewers and the stream's processor (orchestrator in use, standby, swaps, input fps).
import type { StreamHub } from "../../media/hub/hub.ts";
import type { Stream } from "../../media/hub/stream.ts";
import type { StreamSample } from "./samples.ts";

export interface StreamSampleSources {
  hub: Pick<StreamHub, "liveStreams">;
  hlsViewers(streamId: string): number;
  webrtcViewers(streamId: string): number;
}

/** The processor's status fields the dashboard reads (live AI and transcode name them so). */
interface ProcessorFacts {
  state?: string;
  orchestrator?: { address?: string } | null;
  standby?: { address?: string | null } | null;
  lastOrchestrator?: string | null;
  swapCount?: number;
  input?: { fps?: number };
}

export function streamSample(stream: Stream, src: StreamSampleSources): StreamSample {
  const session = stream.session;
  const p = (stream.processor?.status?.() ?? {}) as ProcessorFacts;
  const src0 = stream.source;
  const measuredFps = p.input?.fps;
  return {
    id: stream.id,
    name: stream.record.name,
    pipeline: stream.record.pipeline,
    protocol: session?.protocol ?? "unknown",
    ownerKeyId: stream.record.ownerKeyId ?? null,
    startedAt: session?.startedAt ?? 0,
    bitrateBps: stream.bitrate(),
    fps: typeof measuredFps === "number" && measuredFps > 0 ? measuredFps : src0.fps ?? null,
    video: src0.videoCodec ? `${src0.videoCodec} ${src0.width ?? "?"}x${src0.height ?? "?"}` : null,
    viewers: { hls: src.hlsViewers(stream.id), webrtc: src.webrtcViewers(stream.id) },
    orchestrator: p.orchestrator?.address ?? p.lastOrchestrator ?? null,
    standby: p.standby?.address ?? null,
    swaps: p.swapCount ?? 0,
    state: p.state ?? null,
  };
}

export function liveStreamSamples(src: StreamSampleSources): () => StreamSample[] {
  return () => src.hub.liveStreams().map((s) => streamSample(s, src));
}
