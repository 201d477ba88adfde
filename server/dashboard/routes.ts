// The dashboard's data (admin only): GET /v1/dashboard/series (a snapshot of the window),
// /live (Server-Sent Events: the window and the tables once, then one frame a second),
// /streams/{id} (one stream in detail) and /money (the ledger over days, keys near caps).
import type { FastifyInstance, preHandlerHookHandler } from "fastify";
import { Type } from "typebox";
import { errorBody } from "../../core/errors.ts";
import type { StreamHub } from "../../media/hub/hub.ts";
import type { Accounts } from "../accounts/index.ts";
import { SseConnection, sseConnections } from "../api/sse.ts";
import type { EventBus } from "../events/bus.ts";
import { moneyHistory } from "./money-history.ts";
import { DASHBOARD_WINDOW_SEC, type DashboardSampler } from "./samples.ts";
import { streamSample, type StreamSampleSources } from "./stream-samples.ts";

export interface DashboardRoutesOptions {
  sampler: DashboardSampler;
  bus: EventBus;
  hub: StreamHub;
  accounts: Accounts;
  viewers: Omit<StreamSampleSources, "hub">;
  /** HLS segment durations of a stream's renditions (media/hls/packager.ts). */
  segmentDurations(streamId: string): Array<{ rendition: string; durations: number[]; gaps: number }>;
  preHandler: preHandlerHookHandler;
}

const WindowQuery = Type.Integer({ minimum: 1, maximum: DASHBOARD_WINDOW_SEC, default: DASHBOARD_WINDOW_SEC, description: "Seconds of history" });
const StreamId = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" });

export function registerDashboardRoutes(app: FastifyInstance, o: DashboardRoutesOptions): void {
  const open = sseConnections(app);
  const tags = ["dashboard"];

  app.get(
    "/v1/dashboard/series",
    {
      preHandler: o.preHandler,
      schema: {
        summary: "One-second series of the last hour (admin): {start, length, series: {key: values}}",
        tags,
        querystring: Type.Object({
          window: WindowQuery,
          series: Type.Optional(Type.String({ maxLength: 2000, description: "Comma list of key prefixes (default: all)" })),
        }),
      },
    },
    async (req) => {
      const q = req.query as { window: number; series?: string };
      const prefixes = q.series?.split(",").map((s) => s.trim()).filter(Boolean);
      return o.sampler.window.read(q.window, prefixes?.length ? (k) => prefixes.some((p) => k.startsWith(p)) : undefined);
    },
  );

  app.get(
    "/v1/dashboard/live",
    {
      preHandler: o.preHandler,
      schema: {
        summary: "Server-Sent Events (admin): the window and every row once ({hello: true}), then one frame a second with the new points and changed rows",
        tags,
        querystring: Type.Object({ window: WindowQuery }),
      },
    },
    async (req, reply) => {
      const q = req.query as { window: number };
      const conn = new SseConnection(req, reply, { endpoint: "dashboard" });
      open.add(conn);
      conn.send(JSON.stringify(o.sampler.hello(q.window)));
      const off = o.sampler.subscribe((frame) => conn.send(JSON.stringify(frame)));
      conn.onClose(() => {
        off();
        open.delete(conn);
      });
      return reply;
    },
  );

  app.get(
    "/v1/dashboard/streams/:id",
    {
      preHandler: o.preHandler,
      schema: {
        summary: "One stream in detail (admin): its view, HLS segment durations, orchestrators, events and series",
        tags,
        params: Type.Object({ id: StreamId }),
        querystring: Type.Object({ window: WindowQuery }),
      },
    },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      const { window } = req.query as { window: number };
      const stream = o.hub.get(id);
      if (!stream) return reply.code(404).send(errorBody(404, `stream ${id} not found`));
      return {
        id,
        name: stream.record.name,
        pipeline: stream.record.pipeline,
        ...stream.view(),
        sample: stream.live ? streamSample(stream, { hub: o.hub, ...o.viewers }) : null,
        segments: o.segmentDurations(id),
        events: o.bus.recent({ match: (e) => (e.data as { streamId?: string }).streamId === id, limit: 200 }),
        series: o.sampler.window.read(window, (k) => k.startsWith("stream.") && k.endsWith(`.${id}`)),
      };
    },
  );

  app.get(
    "/v1/dashboard/money",
    {
      preHandler: o.preHandler,
      schema: {
        summary: "Charge, orchestrator cost and margin per day from the ledger, by pipeline and top keys; keys near their spend caps (admin)",
        tags,
        querystring: Type.Object({ days: Type.Integer({ minimum: 1, maximum: 366, default: 30 }) }),
      },
    },
    async (req) => moneyHistory(o.accounts, (req.query as { days: number }).days),
  );
}
