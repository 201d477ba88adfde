// The one typed configuration schema. Names follow go-livepeer where the concept is the same.
import { Type, type Static } from "typebox";
import { DEFAULT_TRANSCODING_OPTIONS } from "../../protocol/profiles.ts";

const Port = Type.Integer({ minimum: 0, maximum: 65535 });

export const ConfigSchema = Type.Object(
  {
    host: Type.String({ default: "127.0.0.1", minLength: 1, description: "Bind address for every listener" }),
    httpPort: { ...Port, default: 8935, description: "HTTP API, HLS, WebRTC signalling and pages" },
    rtmpPort: { ...Port, default: 1935, description: "RTMP ingest" },
    rtmpMaxConnectionsPerAddress: Type.Integer({ minimum: 1, maximum: 100000, default: 16, description: "RTMP connections one address may hold at once (raise for encoders behind one NAT)" }),
    httpRequestTimeoutSec: Type.Integer({ minimum: 1, maximum: 86400, default: 300, description: "An HTTP request (headers and body) must arrive within this many seconds, else 408 and the connection closed (a client sending its body slowly or never holds nothing forever). Uploads (batch AI files, bodies streamed through an app session) must finish within it; answers, SSE and WebSockets are not limited" }),
    publicUrl: Type.String({ default: "", description: "Base URL printed and returned to clients (default http://<host>:<httpPort>)" }),
    publicRtmpUrl: Type.String({ default: "", description: "Base RTMP URL returned to clients (default rtmp://<host>:<rtmpPort>/live)" }),
    dataDir: Type.String({ default: "./data", minLength: 1, description: "Database, keys, certificates" }),
    adminKey: Type.String({ default: "", description: "Admin API key; generated and printed at first start when empty" }),
    logLevel: Type.Union(
      [Type.Literal("trace"), Type.Literal("debug"), Type.Literal("info"), Type.Literal("warn"), Type.Literal("error"), Type.Literal("silent")],
      { default: "info" },
    ),
    segmentDuration: Type.Number({ minimum: 0.5, maximum: 10, default: 2, description: "Target HLS/orchestrator segment duration, seconds" }),
    hlsWindow: Type.Integer({ minimum: 2, maximum: 60, default: 6, description: "Segments kept in each HLS media playlist" }),
    hlsViewerWindow: Type.Number({ minimum: 1, maximum: 600, default: 30, description: "An HLS viewer that read no playlist for this many seconds has left (viewer counts)" }),
    hlsPartTarget: Type.Number({ minimum: 0, maximum: 1, default: 0.334, description: "LL-HLS part duration target, seconds, for the source rendition of RTMP ingest (0 = no parts, plain HLS)" }),
    recordingRetentionDays: Type.Number({ minimum: 0, default: 30, description: "Recordings (streams with record: true) are deleted this many days after they end; 0 keeps them" }),
    publisherTimeoutMs: Type.Integer({ minimum: 200, maximum: 60000, default: 2000, description: "No media for this long = publisher lost" }),
    maxStreamsLive: Type.Integer({ minimum: 1, default: 100, description: "Live streams this process accepts at once" }),
    // WebRTC (WHIP ingest, WHEP playback)
    webrtcMaxViewers: Type.Integer({ minimum: 1, maximum: 10000, default: 50, description: "WHEP viewers per stream; more get 429" }),
    webrtcPortMin: { ...Port, default: 0, description: "Lowest UDP port for WebRTC ICE (0 with webrtcPortMax 0 = any)" },
    webrtcPortMax: { ...Port, default: 0, description: "Highest UDP port for WebRTC ICE" },
    // Orchestrators (go-livepeer names)
    orchAddr: Type.String({ default: "", description: "Comma list of orchestrator URLs; disables the embedded dev orchestrators" }),
    orchWebhookUrl: Type.String({ default: "", description: "URL returning [{address, score}]; refreshed each minute" }),
    devOrchestrators: Type.Integer({ minimum: 0, maximum: 8, default: 2, description: "Development orchestrators started when no orchAddr/orchWebhookUrl" }),
    maxPricePerUnit: Type.Number({ minimum: 0, default: 0, description: "Price cap in wei per pixelsPerUnit (0 = none)" }),
    pixelsPerUnit: Type.Number({ minimum: 1, default: 1, description: "Unit for maxPricePerUnit" }),
    maxPricePerCapability: Type.String({ default: "", description: "go-livepeer JSON {capabilities_prices:[...]} or a path to it" }),
    ignoreMaxPriceIfNeeded: Type.Boolean({ default: false }),
    orchAllowlist: Type.String({ default: "", description: "Comma list: only these orchestrators are used" }),
    orchDenylist: Type.String({ default: "", description: "Comma list: these orchestrators are never used" }),
    orchRegion: Type.String({ default: "", description: "Preferred orchestrator region label" }),
    transcodingOptions: Type.String({
      default: DEFAULT_TRANSCODING_OPTIONS,
      description: "Default ladder: go-livepeer preset names or a JSON ladder",
    }),
    maxSessions: Type.Integer({ minimum: 1, default: 10, description: "Concurrent transcode streams; more publishers are refused" }),
    // Payments (go-livepeer names): a remote signer holds the key and makes the tickets
    remoteSignerUrl: Type.String({ default: "", description: "Remote signer URL (go-livepeer -remoteSignerUrl; https when no scheme). Empty: pay no one (off-chain orchestrators only)" }),
    remoteSignerHeaders: Type.String({ default: "", description: "Headers sent to the remote signer, 'k:v,k2:v2' (never logged)" }),
    livePaymentInterval: Type.Number({ minimum: 1, maximum: 60, default: 5, description: "Seconds between live-video-to-video payments (go-livepeer -livePaymentInterval)" }),
    devSigner: Type.Boolean({ default: true, description: "With the development orchestrators: also start a development remote signer and make them require payment" }),
    // Live AI
    liveNoOutputFactor: Type.Number({ minimum: 1, default: 3, description: "Swap when no output for this many segment durations while input flows" }),
    liveMaxSwaps: Type.Integer({ minimum: 1, default: 5, description: "Swaps allowed per liveSwapWindowSec before the stream is ended" }),
    liveSwapWindowSec: Type.Integer({ minimum: 10, default: 300 }),
    liveEventSilenceSec: Type.Number({ minimum: 0, default: 30, description: "Live AI: swap when the orchestrator sends no status event for this long while input flows (0 = off)" }),
    // Batch AI
    aiRetryBudget: Type.Integer({ minimum: 1, maximum: 10, default: 3, description: "Orchestrator attempts per AI request" }),
    aiTimeoutMs: Type.Integer({ minimum: 1000, default: 120000 }),
    aiQueueTimeoutMs: Type.Integer({
      minimum: 0, maximum: 600000, default: 10000,
      description: "A batch AI request that finds every orchestrator at capacity waits this long for a slot (turns round-robin over keys) before 503 with Retry-After; 0 = refuse at once",
    }),
    aiQueueMax: Type.Integer({ minimum: 1, default: 1000, description: "Batch AI requests waiting for an orchestrator slot, all keys together; more get 503 at once" }),
    aiAnswerMemoryMb: Type.Integer({
      minimum: 1, maximum: 65536, default: 256,
      description: "Bytes of orchestrators' batch AI answers held in memory at once, all requests together (each one at most 256 MB or this); a request whose answer would pass it gets 503. Their text and parsed JSON take about twice as much again",
    }),
    resultTtlSec: Type.Integer({ minimum: 10, default: 3600, description: "How long re-hosted AI results are served" }),
    // Billing
    priceBook: Type.String({ default: "", description: "Customer price book: JSON {currency, ethPrice, default, pipelines} or a path to it (default 20% margin over orchestrator cost, USD)" }),
    meterIntervalSec: Type.Integer({ minimum: 1, maximum: 3600, default: 60, description: "Live stream usage is recorded (and spend caps checked) this often" }),
    usageFsyncIntervalMs: Type.Integer({
      minimum: 0, maximum: 10000, default: 100,
      description: "Usage records are committed before each answer (safe from Wharf crashing) and fsynced within this many ms (safe from power loss); 0 = fsync before each answer (slower)",
    }),
    // Public offering (GET /v1/offering)
    offeringName: Type.String({ default: "", description: "Gateway name published in GET /v1/offering" }),
    offeringRegions: Type.String({ default: "", description: "Comma list of regions published in GET /v1/offering" }),
    offeringSla: Type.String({ default: "", description: "SLA text published in GET /v1/offering" }),
    // Webhooks
    // go-livepeer's live AI hooks, as drop-ins
    liveAIAuthWebhookUrl: Type.String({ default: "", description: "go-livepeer -liveAIAuthWebhookUrl: asked before a live-video-to-video publisher is admitted; non-2xx refuses it" }),
    liveAIAuthApiKey: Type.String({ default: "", description: "go-livepeer -liveAIAuthApiKey: sent as x-api-key and Authorization to the auth webhook (never logged)" }),
    liveAIHeartbeatURL: Type.String({ default: "", description: "go-livepeer -liveAIHeartbeatURL: receives {ids} of live AI streams; terminatedStreamIds in the answer end them (credit_exhaustion)" }),
    liveAIHeartbeatHeaders: Type.String({ default: "", description: "Headers for the heartbeat, 'k:v,k2:v2'" }),
    liveAIHeartbeatInterval: Type.Number({ minimum: 0.1, maximum: 3600, default: 5, description: "Seconds between heartbeats" }),
    webhookAllowPrivate: Type.Boolean({ default: false, description: "Webhooks may deliver to loopback and private addresses (off: only public addresses)" }),
    webhookTimeoutMs: Type.Integer({ minimum: 500, maximum: 120000, default: 10000, description: "A webhook receiver that has not answered within this many ms is a failed attempt (retried with backoff)" }),
    // Cluster: several nodes on shared state (docs/cluster.md). Both empty: SQLite in dataDir, one node.
    databaseUrl: Type.String({ default: "", description: "PostgreSQL URL (postgres://user:pass@host:port/db) for accounts, streams, usage ledger and audit; empty = SQLite in dataDir" }),
    redisUrl: Type.String({ default: "", description: "Redis URL (redis://host:port) for cluster-wide limits, reservations, membership and change notifications; required with databaseUrl" }),
    clusterName: Type.String({ default: "wharf", pattern: "^[A-Za-z0-9_.-]{1,64}$", description: "Prefix of this cluster's Redis keys (several clusters may share one Redis)" }),
    nodeAddress: Type.String({ default: "", description: "This node's internal base URL advertised to the other nodes (default http://<host>:<httpPort>)" }),
    // Metrics
    metricsToken: Type.String({ default: "", description: "Bearer token for /metrics (open when empty)" }),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
