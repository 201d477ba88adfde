// Prometheus metrics (prom-client). Units in names, bounded label sets: no per-stream,
// per-key or per-orchestrator labels (those live on the dashboard, server/dashboard/).
import client from "prom-client";
import { runningFfmpegCount } from "./ffmpeg.ts";
import { LoopDelay } from "./loop-delay.ts";
import { SeriesHistogram } from "./series-histogram.ts";
import { ingestSlabs } from "./slab-pool.ts";

export const registry = new client.Registry();

/**
 * The process's one event-loop delay sampler, shared by the lag gauges below and the gateway's
 * overload check (server/orchestrators/local-load.ts). Its native timer is the one periodic
 * wake-up of an idle gateway's main thread that cannot go: every 50 ms (prom-client's default is
 * 10 ms; each wake-up costs ~0.1 ms of CPU on a small VM), fine enough to see a 100 ms lag,
 * which is the overload threshold, and a lag worth alerting on is far longer.
 */
export const loopDelay = new LoopDelay({ resolutionMs: 50, windowMs: 2000 });

// prom-client's defaults already start with process_/nodejs_: the prefix is only "wharf_"
// (wharf_process_cpu_seconds_total, not wharf_process_process_cpu_seconds_total).
// prom-client's event-loop lag gauges would run a second sampler of their own (it cannot be
// turned off or shared): they are collected into a scratch registry with a sampling period of
// ~24 days (never fires), left out, and served below from `loopDelay` under the same names.
const defaults = new client.Registry();
client.collectDefaultMetrics({ register: defaults, prefix: "wharf_", eventLoopMonitoringPrecision: 2 ** 31 - 1 });
const LAG = "wharf_nodejs_eventloop_lag_";
for (const m of defaults.getMetricsAsArray()) {
  if (!m.name.startsWith(LAG)) registry.registerMetric(defaults.getSingleMetric(m.name)!);
}
function lagGauges(): void {
  const gauge = (suffix: string, help: string, collect?: () => void) =>
    new client.Gauge({ name: LAG + suffix, help, registers: [registry], ...(collect ? { collect } : {}) });
  // As prom-client: the time a setImmediate waits at the scrape (read at the next one).
  const lag = gauge("seconds", "Lag of event loop in seconds.", () => {
    const start = process.hrtime.bigint();
    setImmediate(() => lag.set(Number(process.hrtime.bigint() - start) / 1e9));
    // This gauge is registered first, so its collect sets the others before they are read.
    const r = loopDelay.takeReport();
    min.set(r.min / 1e3);
    max.set(r.max / 1e3);
    mean.set(r.mean / 1e3);
    stddev.set(r.stddev / 1e3);
    p50.set(r.p50 / 1e3);
    p90.set(r.p90 / 1e3);
    p99.set(r.p99 / 1e3);
  });
  const since = "since the last scrape (the time between runs of a 50 ms timer";
  const min = gauge("min_seconds", `The minimum recorded event loop delay ${since}).`);
  const max = gauge("max_seconds", `The maximum recorded event loop delay ${since}).`);
  const mean = gauge("mean_seconds", `The mean of the recorded event loop delays ${since}).`);
  const stddev = gauge("stddev_seconds", `The standard deviation of the recorded event loop delays ${since}).`);
  const p50 = gauge("p50_seconds", `The 50th percentile of the recorded event loop delays ${since}; at most).`);
  const p90 = gauge("p90_seconds", `The 90th percentile of the recorded event loop delays ${since}; at most).`);
  const p99 = gauge("p99_seconds", `The 99th percentile of the recorded event loop delays ${since}; at most).`);
}
lagGauges();

/** API calls: a millisecond to a few seconds. */
const SECONDS_FAST = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** One segment through an orchestrator: around the segment duration (0.5-10 s), finer near it. */
const SECONDS_SEGMENT = [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 32];
/** Batch AI: tens of milliseconds (text, small images) up to aiTimeoutMs (default 120 s). */
const SECONDS_AI = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128];

let hlsHeldBytes: () => number = () => 0;
/** The HLS service tells how many segment bytes its windows hold (read at each scrape). */
export function reportHlsHeldBytes(source: () => number): void {
  hlsHeldBytes = source;
}

let slabTakesSeen = { allocated: 0, reused: 0 };

let streamViewers: () => { hls: number; webrtc: number } = () => ({ hls: 0, webrtc: 0 });
/** The gateway tells how many viewers its live streams have in all (read at each scrape). */
export function reportStreamViewers(source: () => { hls: number; webrtc: number }): void {
  streamViewers = source;
}

export const metrics = {
  // Observed per request: label sets resolved once (series-histogram.ts says why).
  httpRequests: new SeriesHistogram({
    name: "wharf_http_request_duration_seconds",
    help: "HTTP request duration by route pattern, method and status class",
    labelNames: ["route", "method", "status"] as const,
    buckets: SECONDS_FAST,
    registers: [registry],
  }),
  streamsLive: new client.Gauge({
    name: "wharf_streams_live",
    help: "Live streams by ingest protocol and pipeline",
    labelNames: ["protocol", "pipeline"] as const,
    registers: [registry],
  }),
  ingestBytes: new client.Counter({
    name: "wharf_ingest_bytes_total",
    help: "Media bytes received from publishers",
    labelNames: ["protocol"] as const,
    registers: [registry],
  }),
  unhandledRejections: new client.Counter({
    name: "wharf_unhandled_rejections_total",
    help: "Promise rejections no code handled (each a bug, logged; the process goes on)",
    registers: [registry],
  }),
  sourceSegments: new client.Counter({
    name: "wharf_source_segments_total",
    help: "Source segments cut from ingest",
    registers: [registry],
  }),
  ingestRejected: new client.Counter({
    name: "wharf_ingest_rejected_total",
    help: "Publishers refused at admission, by HTTP-style status",
    labelNames: ["protocol", "status"] as const,
    registers: [registry],
  }),
  streamEnds: new client.Counter({
    name: "wharf_stream_ends_total",
    help: "Ingest sessions ended, by reason",
    labelNames: ["reason"] as const,
    registers: [registry],
  }),
  orchestratorCalls: new client.Counter({
    name: "wharf_orchestrator_calls_total",
    help: "Calls to orchestrators by kind (segment, ai, live) and result (ok, busy, error, timeout)",
    labelNames: ["kind", "result"] as const,
    registers: [registry],
  }),
  transcodeLatency: new client.Histogram({
    name: "wharf_transcode_segment_latency_seconds",
    help: "Source segment complete to renditions published",
    buckets: SECONDS_SEGMENT,
    registers: [registry],
  }),
  segmentsSkipped: new client.Counter({
    name: "wharf_transcode_segments_skipped_total",
    help: "Segments that failed every attempt and were published as gaps",
    registers: [registry],
  }),
  liveSwaps: new client.Counter({
    name: "wharf_live_swaps_total",
    help: "Live AI orchestrator swaps by detected failure reason",
    labelNames: ["reason"] as const,
    registers: [registry],
  }),
  liveSwapDuration: new client.Histogram({
    name: "wharf_live_swap_duration_seconds",
    help: "Failure detected to first output from the standby",
    buckets: [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20],
    registers: [registry],
  }),
  aiRequests: new client.Counter({
    name: "wharf_ai_requests_total",
    help: "Batch AI requests by pipeline and status code",
    labelNames: ["pipeline", "status"] as const,
    registers: [registry],
  }),
  aiDuration: new client.Histogram({
    name: "wharf_ai_request_duration_seconds",
    help: "Batch AI request duration by pipeline",
    labelNames: ["pipeline"] as const,
    buckets: SECONDS_AI,
    registers: [registry],
  }),
  ffmpegProcesses: new client.Gauge({
    name: "wharf_ffmpeg_processes",
    help: "ffmpeg/ffprobe children running now (segmenters, packetizers, probes)",
    registers: [registry],
    collect() {
      this.set(runningFfmpegCount());
    },
  }),
  hlsHeldBytes: new client.Gauge({
    name: "wharf_hls_held_bytes",
    help: "Bytes of media segments (and the segments being written) held in memory by the HLS windows",
    registers: [registry],
    collect() {
      this.set(hlsHeldBytes());
    },
  }),
  ingestSlabs: new client.Gauge({
    name: "wharf_ingest_slabs",
    help: "RTMP ingest's pooled 64 KiB output slabs: in_use (a segment or a writer holds it) and free (kept for reuse)",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const s = ingestSlabs.stats();
      this.set({ state: "in_use" }, s.inUse);
      this.set({ state: "free" }, s.free);
    },
  }),
  ingestSlabTakes: new client.Counter({
    name: "wharf_ingest_slab_takes_total",
    help: "Slabs RTMP ingest took for its output: new (allocated) or reused (given back by segments nobody holds any more)",
    labelNames: ["source"] as const,
    registers: [registry],
    collect() {
      const s = ingestSlabs.stats();
      this.inc({ source: "new" }, s.allocated - slabTakesSeen.allocated);
      this.inc({ source: "reused" }, s.reused - slabTakesSeen.reused);
      slabTakesSeen = { allocated: s.allocated, reused: s.reused };
    },
  }),
  streamViewers: new client.Gauge({
    name: "wharf_stream_viewers",
    help: "Viewers of the live streams in all, by protocol (hls: distinct clients that read a playlist within hlsViewerWindow; webrtc: open WHEP sessions)",
    labelNames: ["protocol"] as const,
    registers: [registry],
    collect() {
      const v = streamViewers();
      this.set({ protocol: "hls" }, v.hls);
      this.set({ protocol: "webrtc" }, v.webrtc);
    },
  }),
  webrtcSessions: new client.Gauge({
    name: "wharf_webrtc_sessions",
    help: "Open WebRTC sessions by kind (whip, whep)",
    labelNames: ["kind"] as const,
    registers: [registry],
  }),
  orchestrators: new client.Gauge({
    name: "wharf_orchestrators",
    help: "Known orchestrators by state (ok, suspended, unreachable)",
    labelNames: ["state"] as const,
    registers: [registry],
  }),
  spendCapReached: new client.Counter({
    name: "wharf_spend_cap_refusals_total",
    help: "Work refused or ended because a key reached its spend cap, by cap (daily, monthly)",
    labelNames: ["cap"] as const,
    registers: [registry],
  }),
  /**
   * 1 while the remote signer answers, 0 while it fails, labelled with the signer's host:port
   * (one per configured signer). Set by the payments work (remote signer client); until then
   * nothing sets it. The label keeps it absent from the scrape until it is set: a gauge
   * without labels would read 0 ("failing") on a gateway without a signer.
   */
  signerUp: new client.Gauge({
    name: "wharf_signer_up",
    help: "1 when the remote signer answered its last call, 0 when it failed, by signer host:port",
    labelNames: ["signer"] as const,
    registers: [registry],
  }),
  eventClientsDropped: new client.Counter({
    name: "wharf_event_stream_clients_dropped_total",
    help: "Server-Sent Events clients cut off because they read too slowly, by endpoint (events, dashboard)",
    labelNames: ["endpoint"] as const,
    registers: [registry],
  }),
  thumbnailExtractions: new client.Counter({
    name: "wharf_thumbnail_extractions_total",
    help: "ffmpeg runs that cut a thumbnail from a segment (at most one per segment and rendition, only when asked), by result",
    labelNames: ["result"] as const,
    registers: [registry],
  }),
  multistreamTargets: new client.Gauge({
    name: "wharf_multistream_targets",
    help: "Multistream pushes of live streams by state (connected, error: failing and retried with backoff, disconnected)",
    labelNames: ["state"] as const,
    registers: [registry],
  }),
};
