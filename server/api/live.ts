// Live AI routes: params updates and status of live-video-to-video streams, under Wharf's API
// and at go-livepeer's public paths.
//   POST /v1/streams/{id}/params                  {"params": {...}}   (scope streams, owner)
//   GET  /v1/streams/{id}/status                  orchestrator, standby, events, fps, latency, swaps
//   POST /live/video-to-video/{stream}/update     body = the params object (go-livepeer)
//   GET  /live/video-to-video/{stream}/status
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Type, type Static } from "typebox";
import type { StreamHub } from "../../media/hub/hub.ts";
import type { StreamRecord } from "../../media/hub/types.ts";
import { isLiveAiProcessor, type LiveAiSessions } from "../../media/processors/live-ai.ts";
import type { StreamCatalog } from "../streams/catalog.ts";
import { ownerFilter, type Authenticator } from "./auth.ts";
import { errorBody } from "../../core/errors.ts";
import { nestingError } from "./validation.ts";
import { gatewayStatus } from "../compat/gateway-status.ts";

const StreamId = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" });
const Params = Type.Record(Type.String(), Type.Unknown());
const ParamsBody = Type.Object({ params: Params }, { additionalProperties: false });

export interface LiveRoutesContext {
  hub: StreamHub;
  store: StreamCatalog;
  auth: Authenticator;
  sessions: LiveAiSessions;
}

export type LiveParamsResult =
  | { ok: true; live: boolean; applied: boolean; orchestrator: string | null }
  | { ok: false; status: 400 | 502; message: string };

/**
 * Stores a live-video-to-video stream's params and, when it is live, sends them on the control
 * channel (also PATCH /v1/streams/{id} with {"params"}, Daydream's shape).
 */
export async function updateLiveParams(ctx: Pick<LiveRoutesContext, "hub" | "store">, record: StreamRecord, params: Record<string, unknown>): Promise<LiveParamsResult> {
  if (record.pipeline !== "live-video-to-video") {
    return { ok: false, status: 400, message: `stream ${record.id} runs pipeline ${record.pipeline}; params apply to live-video-to-video streams` };
  }
  await ctx.store.update(record.id, { ...record.options, params });
  const processor = ctx.hub.get(record.id)?.processor;
  if (!isLiveAiProcessor(processor)) return { ok: true, live: false, applied: false, orchestrator: null };
  try {
    return { ok: true, live: true, ...(await processor.updateParams(params)) };
  } catch (err) {
    return { ok: false, status: 502, message: `params stored, but the orchestrator did not take them: ${(err as Error).message}` };
  }
}

export function registerLiveRoutes(app: FastifyInstance, ctx: LiveRoutesContext): void {
  const guard = ctx.auth.requireScope("streams");
  const find = (req: FastifyRequest, id: string): StreamRecord | undefined => {
    const record = ctx.store.get(id);
    const owner = ownerFilter(req);
    return record && (owner === undefined || record.ownerKeyId === owner) ? record : undefined;
  };

  const update = async (req: FastifyRequest, reply: FastifyReply, id: string, params: Record<string, unknown>, field: string) => {
    const tooDeep = nestingError(field, params);
    if (tooDeep) return reply.code(400).send(errorBody(400, tooDeep));
    const record = find(req, id);
    if (!record) return reply.code(404).send(errorBody(404, `stream ${id} not found`));
    const result = await updateLiveParams(ctx, record, params);
    if (!result.ok) return reply.code(result.status).send(errorBody(result.status, result.message));
    return { id, params, live: result.live, applied: result.applied, orchestrator: result.orchestrator };
  };

  const status = async (req: FastifyRequest, reply: FastifyReply, id: string) => {
    const record = find(req, id);
    if (!record) return reply.code(404).send(errorBody(404, `stream ${id} not found`));
    const stream = ctx.hub.get(id);
    const processor = stream?.processor;
    const live = processor?.status?.() ?? null;
    const view = stream?.view();
    const processorStatus = live ?? (record.pipeline === "live-video-to-video" ? ctx.sessions.lastStatus(id) ?? null : null);
    return {
      id,
      pipeline: record.pipeline,
      state: stream?.live ? "live" : "idle",
      ...(record.options.modelId ? { modelId: record.options.modelId } : {}),
      processor: processorStatus,
      lastEnded: view?.lastEnded ?? null,
      // go-livepeer's and Daydream's name for the gateway's side (server/compat/gateway-status.ts).
      gateway_status: gatewayStatus({ streamId: id, pipeline: record.pipeline, stream: view, processor: processorStatus }),
    };
  };

  app.post(
    "/v1/streams/:id/params",
    { preHandler: guard, schema: { summary: "Update a live AI stream's params (sent on the control channel)", tags: ["live"], params: Type.Object({ id: StreamId }), body: ParamsBody } },
    async (req, reply) => update(req, reply, (req.params as { id: string }).id, (req.body as Static<typeof ParamsBody>).params, "body/params"),
  );
  app.get(
    "/v1/streams/:id/status",
    { preHandler: guard, schema: { summary: "Processor status: orchestrator, standby, events, frame rates, latency, swaps", tags: ["live"], params: Type.Object({ id: StreamId }) } },
    async (req, reply) => status(req, reply, (req.params as { id: string }).id),
  );
  app.post(
    "/live/video-to-video/:stream/update",
    { preHandler: guard, schema: { summary: "go-livepeer compatible params update (body = params)", tags: ["live"], params: Type.Object({ stream: StreamId }), body: Params } },
    async (req, reply) => update(req, reply, (req.params as { stream: string }).stream, req.body as Record<string, unknown>, "body"),
  );
  app.get(
    "/live/video-to-video/:stream/status",
    { preHandler: guard, schema: { summary: "go-livepeer compatible status", tags: ["live"], params: Type.Object({ stream: StreamId }) } },
    async (req, reply) => status(req, reply, (req.params as { stream: string }).stream),
  );
}
