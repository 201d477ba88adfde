// The development orchestrator's live-video-to-video feature (capability 35), like a
// go-livepeer orchestrator with a live ai-runner behind it (livepeer-wire.md section 5):
// - `POST /live-video-to-video` (credentials in `Livepeer-Segment`, 403 otherwise) creates the
//   four trickle channels under `/ai/trickle/` and answers their URLs; 503 "insufficient
//   capacity" when the model is at capacity.
// - each session runs a LivePipeline (real ffmpeg effects keyed by model id, `noop` = passthrough).
// - test knobs: stall output, stall events, crash (process exit) — via options, CLI flags and,
//   when enabled, `POST /wharf/live/faults`.
// - payment (--require-payment): the start request's payment is credited to the new manifest id;
//   then, paced by input segments, every payment interval the elapsed time is debited as
//   1280x720x30 pixels per second at the model's price, and a balance that cannot pay closes the
//   session's four channels (go-livepeer's LV2VPaymentProcessor). Follow-up payments arrive on
//   `POST /payment` with the manifest id in the segment credentials.
import { randomBytes, randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { Capability } from "../../protocol/capabilities.ts";
import { parseAiManifestId } from "../../protocol/segment-header.ts";
import { TrickleServer, tricklePlugin } from "../../protocol/trickle/index.ts";
import type { FeatureCapability, FeatureContext, OrchestratorFeature, Price } from "../feature.ts";
import { DEFAULT_LIVE_PAYMENT_INTERVAL_MS, LiveMeter } from "../payments/live-meter.ts";
import { LIVE_MODELS } from "./effects.ts";
import { LivePipeline, type LiveFaults, type LivePipelineStatus } from "./pipeline.ts";

export const TRICKLE_BASE = "/ai/trickle";

export interface LiveFeatureOptions {
  /** Models served (default: every effect). */
  models?: readonly string[];
  /** Concurrent sessions per model (default 2). */
  capacity?: number;
  /** Price per model (wei per pixelsPerUnit output pixels; default 0). */
  price?: Price;
  /** Status event period (default 2000 ms). */
  eventsIntervalMs?: number;
  /** libx264 preset for effects (default ultrafast). */
  x264Preset?: string;
  /** Trickle channels idle this long are removed, ending their session (default 5 min). */
  idleTimeoutMs?: number;
  /** Initial fault knobs. */
  faults?: Partial<LiveFaults>;
  /** Exit the process after this many input segments in total (crash knob). */
  crashAfterSegments?: number;
  /** Serve `POST /wharf/live/faults` (tests, demos). */
  faultRoute?: boolean;
  /** How to crash (default: process.exit(1)). */
  crash?: () => void;
  /** With payment required: how often the session's elapsed time is debited (default 5 s, go's -livePaymentInterval). */
  paymentIntervalMs?: number;
}

export interface LiveFeatureStats {
  sessions: Array<LivePipelineStatus>;
  started: number;
  refusedBusy: number;
  faults: LiveFaults;
}

export interface LiveFeature extends OrchestratorFeature {
  stats(): LiveFeatureStats;
  /** Change knobs at runtime. */
  configure(changes: Partial<LiveFaults> & { capacity?: number }): void;
}

const detail = (msg: string) => ({ detail: { msg } });

export function createLiveFeature(opts: LiveFeatureOptions = {}): LiveFeature {
  const models = opts.models ?? LIVE_MODELS;
  let capacity = opts.capacity ?? 2;
  const faults: LiveFaults = { stallOutput: false, stallEvents: false, ...opts.faults };
  const trickle = new TrickleServer({ idleTimeoutMs: opts.idleTimeoutMs ?? 5 * 60_000, sweepIntervalMs: 5_000 }).start();
  const sessions = new Map<string, { pipeline: LivePipeline; modelId: string }>();
  const counters = { started: 0, refusedBusy: 0, inputSegments: 0 };
  const crash = opts.crash ?? (() => process.exit(1));

  const inUse = (model: string) => [...sessions.values()].filter((s) => s.modelId === model).length;

  const capabilities = (): FeatureCapability[] => [
    {
      capability: Capability.LiveVideoToVideo,
      capacity: capacity * models.length,
      models: Object.fromEntries(
        models.map((m) => [m, { warm: true, capacity, capacityInUse: inUse(m), ...(opts.price ? { price: opts.price } : {}) }]),
      ),
    },
  ];

  async function register(app: FastifyInstance, ctx: FeatureContext): Promise<void> {
    await app.register(tricklePlugin, { prefix: TRICKLE_BASE, server: trickle });

    app.post("/live-video-to-video", async (req, reply) => {
      const seg = await ctx.requireCredentials(req, reply);
      if (!seg) return reply;
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (typeof body !== "object" || Array.isArray(body)) return reply.code(400).send(detail("body must be a JSON object"));
      const modelId = typeof body.model_id === "string" && body.model_id ? body.model_id : parseAiManifestId(seg.manifestId ?? new Uint8Array())?.modelId;
      if (!modelId) return reply.code(400).send(detail("model_id is required"));
      const manifest = parseAiManifestId(seg.manifestId ?? new Uint8Array());
      if (manifest && manifest.capability !== Capability.LiveVideoToVideo) {
        return reply.code(400).send(detail(`Livepeer-Segment manifestId is for capability ${manifest.capability}, not ${Capability.LiveVideoToVideo}`));
      }
      if (body.params !== undefined && (typeof body.params !== "object" || body.params === null || Array.isArray(body.params))) {
        return reply.code(400).send(detail("params must be a JSON object"));
      }
      if (!models.includes(modelId)) return reply.code(400).send(detail(`model ${modelId} is not served here (models: ${models.join(", ")})`));
      if (await ctx.applyKnobs()) return reply.code(500).send(detail("injected failure"));
      if (inUse(modelId) >= capacity) {
        counters.refusedBusy++;
        return reply.code(503).type("text/plain").send("insufficient capacity");
      }
      const mid = randomBytes(8).toString("hex");
      const work = await ctx.acceptPayment(req, reply, { balanceKey: mid, capability: Capability.LiveVideoToVideo, modelId });
      if (!work) return reply;
      // go charges nothing over time for a model without a price.
      const meter = ctx.paymentRequired && work.price.pricePerUnit > 0 ? new LiveMeter(opts.paymentIntervalMs ?? DEFAULT_LIVE_PAYMENT_INTERVAL_MS) : undefined;
      const requestId = typeof body.gateway_request_id === "string" && body.gateway_request_id ? body.gateway_request_id : randomUUID();
      trickle.createChannel(mid, "video/MP2T");
      trickle.createChannel(`${mid}-out`, "video/MP2T");
      trickle.createChannel(`${mid}-control`, "application/json");
      trickle.createChannel(`${mid}-events`, "application/json");
      const pipeline = new LivePipeline({
        trickle,
        mid,
        modelId,
        params: (body.params as Record<string, unknown> | undefined) ?? {},
        requestId,
        streamId: typeof body.stream_id === "string" ? body.stream_id : "",
        eventsIntervalMs: opts.eventsIntervalMs ?? 2000,
        x264Preset: opts.x264Preset ?? "ultrafast",
        faults,
        log: ctx.log,
        onInputSegment: () => {
          counters.inputSegments++;
          const units = meter?.onInputSegment() ?? 0;
          const refused = units > 0 ? work.debitIfCovered(units) : undefined;
          if (refused) {
            ctx.log.warn({ mid, fee: refused.fee, balance: refused.balance, sender: work.sender }, `insufficient balance, mid=${mid}, fee=${refused.fee}, balance=${refused.balance}`);
            pipeline.close();
            return;
          }
          if (opts.crashAfterSegments !== undefined && counters.inputSegments >= opts.crashAfterSegments) {
            ctx.log.warn({ segments: counters.inputSegments }, "live crash-after-segments reached: exiting");
            crash();
          }
        },
        onEnd: () => {
          sessions.delete(mid);
          ctx.log.debug({ mid }, "live session ended");
        },
      });
      sessions.set(mid, { pipeline, modelId });
      counters.started++;
      const url = (suffix: string) => ctx.publicUrl(`${TRICKLE_BASE}/${mid}${suffix}`);
      ctx.log.info({ mid, modelId, requestId }, "live session started");
      return reply.send({
        publish_url: url(""),
        subscribe_url: url("-out"),
        control_url: url("-control"),
        events_url: url("-events"),
        manifest_id: mid,
        request_id: requestId,
      });
    });

    app.get("/wharf/live/status", async () => stats());

    if (opts.faultRoute) {
      app.post("/wharf/live/faults", async (req) => {
        const b = (req.body ?? {}) as Record<string, unknown>;
        if (typeof b.stallOutput === "boolean") faults.stallOutput = b.stallOutput;
        if (typeof b.stallEvents === "boolean") faults.stallEvents = b.stallEvents;
        if (b.crash === true) setTimeout(crash, 10);
        return { faults };
      });
    }
  }

  const stats = (): LiveFeatureStats => ({
    sessions: [...sessions.values()].map((s) => s.pipeline.status()),
    started: counters.started,
    refusedBusy: counters.refusedBusy,
    faults: { ...faults },
  });

  return {
    name: "live-video-to-video",
    capabilities,
    register,
    stats,
    configure(changes) {
      if (changes.capacity !== undefined) capacity = changes.capacity;
      if (changes.stallOutput !== undefined) faults.stallOutput = changes.stallOutput;
      if (changes.stallEvents !== undefined) faults.stallEvents = changes.stallEvents;
    },
    async close() {
      for (const s of [...sessions.values()]) s.pipeline.close();
      trickle.stop();
    },
  };
}
