// Dashboard wiring for the composition root: the sampler fed by the hub, the HLS audience,
// WebRTC viewers, the orchestrator registry and the ledger; its routes (admin only).
import type { FastifyInstance, preHandlerHookHandler } from "fastify";
import type { StreamHub } from "../../media/hub/hub.ts";
import type { HlsService } from "../../media/hls/service.ts";
import type { WebRtcService } from "../../media/webrtc/service.ts";
import type { Accounts } from "../accounts/index.ts";
import type { EventBus } from "../events/bus.ts";
import type { CallReport, OrchestratorRegistry } from "../orchestrators/registry.ts";
import { registerDashboardRoutes } from "./routes.ts";
import { DashboardSampler } from "./samples.ts";
import { SpendToday } from "./spend-today.ts";
import { liveStreamSamples } from "./stream-samples.ts";

export { DashboardSampler, type StreamSample } from "./samples.ts";

export interface DashboardDeps {
  hub: StreamHub;
  hls: HlsService;
  webrtc: WebRtcService;
  registry: OrchestratorRegistry;
  accounts: Accounts;
  bus: EventBus;
  /** Admin-only preHandler. */
  preHandler: preHandlerHookHandler;
}

export interface Dashboard {
  sampler: DashboardSampler;
  /** A batch AI answer (wired to the AI routes' observer). */
  observeAi(pipeline: string, status: number, durationMs: number): void;
  stop(): void;
}

export function startDashboard(app: FastifyInstance, d: DashboardDeps): Dashboard {
  const spend = new SpendToday({
    ethPrice: d.accounts.priceBook.config.ethPrice,
    group: (from, to, by) => d.accounts.groupUsage({ from, to }, by),
  });
  const onUsage = (rec: Parameters<SpendToday["add"]>[0]) => spend.add(rec);
  d.accounts.on("usageRecorded", onUsage);
  const viewers = {
    hlsViewers: (id: string) => d.hls.audience.count(id),
    webrtcViewers: (id: string) => d.webrtc.viewersOf(id),
  };
  const sampler = new DashboardSampler({
    streams: liveStreamSamples({ hub: d.hub, ...viewers }),
    orchestrators: () => d.registry.snapshot(),
    spend,
    currency: d.accounts.priceBook.currency,
  });
  const onCall = (r: CallReport) => sampler.observeCall(r);
  d.registry.on("call", onCall);
  registerDashboardRoutes(app, {
    sampler,
    bus: d.bus,
    hub: d.hub,
    accounts: d.accounts,
    viewers,
    segmentDurations: (id) => d.hls.get(id)?.segmentDurations() ?? [],
    preHandler: d.preHandler,
  });
  sampler.start();
  return {
    sampler,
    observeAi: (pipeline, status, ms) => sampler.observeAi(pipeline, status, ms),
    stop() {
      sampler.stop();
      d.registry.off("call", onCall);
      d.accounts.off("usageRecorded", onUsage);
    },
  };
}
