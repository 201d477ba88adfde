// `gateway_status`: the gateway's side of a live stream, in the snake_case shape go-livepeer's live
// AI status and Daydream's stream status carry beside the orchestrator's own status. Built from
// what Wharf already knows: the stream's ingest (media/hub Stream.view()), its processor's status
// (for live AI: orchestrator, standby, frame rates, swaps) and how its last session ended.
// Pure: the route passes the views in; times are unix milliseconds as go-livepeer reports them.

type Json = Record<string, unknown>;

export interface GatewayStatusInput {
  streamId: string;
  pipeline: string;
  /** Stream.view() of a stream the hub knows, else undefined (never published on this node). */
  stream?: Json;
  /** The processor's status (live or the last one kept for an ended live AI stream), or null. */
  processor: Json | null;
}

const obj = (v: unknown): Json | undefined => (v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : undefined);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);
const ms = (iso: unknown): number | null => {
  const t = typeof iso === "string" ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? t : null;
};

interface Failure {
  error: string;
  at: number;
}

/** The most recent thing that went wrong: an orchestrator swap, the end of a failed session, or a refused publisher. */
function lastFailure(stream: Json | undefined, processor: Json | null): Failure | undefined {
  const found: Failure[] = [];
  const swaps = Array.isArray(processor?.swaps) ? (processor.swaps as Json[]) : [];
  const swap = swaps[swaps.length - 1];
  const swapAt = ms(swap?.at);
  if (swap && swapAt !== null) found.push({ error: `orchestrator ${String(swap.from)} failed (${String(swap.reason)}): ${String(swap.detail ?? "")}`.trim(), at: swapAt });
  const ended = obj(stream?.lastEnded);
  const endedAt = ms(ended?.at);
  if (ended && endedAt !== null && ended.reason !== "publisher-left" && ended.reason !== "shutdown") {
    found.push({ error: `stream ended: ${String(ended.reason)}${ended.detail ? ` (${String(ended.detail)})` : ""}`, at: endedAt });
  }
  const refusal = obj(stream?.lastRefusal);
  const refusedAt = ms(refusal?.at);
  if (refusal && refusedAt !== null) found.push({ error: `publisher refused (${String(refusal.status)}): ${String(refusal.reason)}`, at: refusedAt });
  return found.sort((a, b) => b.at - a.at)[0];
}

export function gatewayStatus(i: GatewayStatusInput): Json {
  const ingest = obj(i.stream?.ingest);
  const video = obj(ingest?.video);
  const p = i.processor;
  const orch = obj(p?.orchestrator);
  const standby = obj(p?.standby);
  const input = obj(p?.input);
  const output = obj(p?.output);
  const swaps = Array.isArray(p?.swaps) ? (p.swaps as Json[]) : [];
  const lastSwap = swaps[swaps.length - 1];
  const failure = lastFailure(i.stream, p);
  const live = i.stream?.state === "live";
  return {
    stream_id: i.streamId,
    pipeline: i.pipeline,
    state: live ? "ONLINE" : "OFFLINE",
    ingest_metrics: ingest
      ? {
          protocol: str(ingest.protocol),
          started_at: ms(ingest.startedAt),
          uptime_seconds: num(ingest.uptimeSeconds),
          bitrate_bps: num(ingest.bitrate),
          bytes_received: num(ingest.bytesIn),
          segments_received: num(ingest.segmentsIn),
          keyframe_interval_seconds: num(ingest.keyframeInterval),
          video: video ? { codec: str(video.codec), width: num(video.width), height: num(video.height), fps: num(video.fps) } : null,
          warnings: Array.isArray(ingest.warnings) ? ingest.warnings : [],
        }
      : null,
    input_fps: num(input?.fps),
    output_fps: num(output?.fps),
    orchestrator_url: str(orch?.address),
    standby_orchestrator_url: str(standby?.address),
    processor_state: str(p?.state),
    restarts: num(p?.swapCount) ?? 0,
    last_restart_time: ms(lastSwap?.at),
    last_restart_reason: str(lastSwap?.reason),
    last_error: failure?.error ?? null,
    last_error_time: failure?.at ?? null,
  };
}
