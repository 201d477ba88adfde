// /v1/streams: create, list, get, update params, delete.
import type { FastifyInstance, FastifyRequest } from "fastify";
import { Type, type Static } from "typebox";
import type { StreamHub } from "../../media/hub/hub.ts";
import { PIPELINES, type Pipeline, type StreamRecord } from "../../media/hub/types.ts";
import type { StreamCatalog } from "../streams/catalog.ts";
import { actorOf, ownerFilter, type Authenticator } from "./auth.ts";
import { errorBody } from "../../core/errors.ts";
import { streamUrls, type PublicUrls } from "./urls.ts";
import { nestingError } from "./validation.ts";
import { playbackPolicyOf } from "./playback-auth.ts";
import { updateLiveParams } from "./live.ts";
import { MAX_MULTISTREAM_TARGETS, parseMultistreamTargets } from "../../media/multistream/targets.ts";

const StreamId = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" });
/** Where the stream is pushed while live (validated further by parseMultistreamTargets). */
const MultistreamTargets = Type.Array(
  Type.Object({ url: Type.String({ minLength: 1, maxLength: 2048 }), rendition: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }, { additionalProperties: false }),
  { maxItems: MAX_MULTISTREAM_TARGETS },
);
/** Who may play: anyone, or holders of a JWT from the owner's signing keys (server/api/playback-auth.ts). */
const PlaybackPolicy = Type.Object({ type: Type.Unsafe<"public" | "jwt">({ type: "string", enum: ["public", "jwt"] }) }, { additionalProperties: false });

export const CreateStreamBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    pipeline: Type.Unsafe<Pipeline>({ type: "string", enum: PIPELINES, default: "passthrough" }),
    transcodingOptions: Type.Optional(Type.String({ minLength: 1, maxLength: 10000 })),
    modelId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    /** Record every session as a VOD asset (GET /v1/recordings?stream=). */
    record: Type.Optional(Type.Boolean()),
    multistream: Type.Optional(MultistreamTargets),
    playbackPolicy: Type.Optional(PlaybackPolicy),
  },
  { additionalProperties: false },
);
type CreateStreamBody = Static<typeof CreateStreamBody>;

/** PATCH /v1/streams/{id}: the options that can change on an existing stream (live ones take effect at once). */
export const UpdateStreamBody = Type.Object(
  {
    record: Type.Optional(Type.Boolean()),
    multistream: Type.Optional(MultistreamTargets),
    playbackPolicy: Type.Optional(PlaybackPolicy),
    /** Live AI params, sent to the orchestrator at once when live (Daydream's PATCH). */
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
type UpdateStreamBody = Static<typeof UpdateStreamBody>;

export interface StreamRoutesContext {
  hub: StreamHub;
  store: StreamCatalog;
  auth: Authenticator;
  urls: PublicUrls;
  /** Validates pipeline options (e.g. a transcoding ladder) before a stream is stored; returns an error message. */
  validateOptions?: (pipeline: Pipeline, body: CreateStreamBody) => string | undefined;
  /** Live state of the stream's multistream targets (media/multistream), by target index. */
  multistreamStatus?: (streamId: string) => Array<Record<string, unknown>> | undefined;
  /** Who watches the stream now: HLS clients seen lately, open WHEP sessions. */
  viewers?: (streamId: string) => { hls: number; webrtc: number };
  /** A stream's options changed (PATCH): live consumers (multistream) catch up. */
  onOptionsChanged?: (record: StreamRecord) => void;
  /** Cluster mode: which of these streams are live on another node (stream id -> node id). */
  liveElsewhere?: (streamIds: string[]) => Promise<Map<string, string>>;
}

export function streamView(ctx: StreamRoutesContext, record: StreamRecord): Record<string, unknown> {
  const live = ctx.hub.get(record.id);
  return {
    id: record.id,
    name: record.name,
    pipeline: record.pipeline,
    streamKey: record.streamKey,
    ...streamUrls(ctx.urls, record.id, record.streamKey),
    // Daydream's names for the same things (its clients read these from the create answer).
    whip_url: streamUrls(ctx.urls, record.id, record.streamKey).whipUrl,
    stream_key: record.streamKey,
    output_playback_id: record.id,
    createdAt: new Date(record.createdAt).toISOString(),
    ...(record.options.transcodingOptions ? { transcodingOptions: record.options.transcodingOptions } : {}),
    ...(record.options.modelId ? { modelId: record.options.modelId } : {}),
    ...(record.options.params ? { params: record.options.params } : {}),
    record: record.options.record === true,
    playbackPolicy: playbackPolicyOf(record),
    multistream: multistreamView(ctx, record),
    viewers: ctx.viewers?.(record.id) ?? { hls: 0, webrtc: 0 },
    ...(live ? live.view() : { state: "idle", ingest: null }),
  };
}

/** The configured targets with their live state (disconnected while the stream is idle). */
function multistreamView(ctx: StreamRoutesContext, record: StreamRecord): Array<Record<string, unknown>> {
  const targets = (record.options.multistream ?? []) as Array<{ url: string; rendition: string }>;
  const status = ctx.multistreamStatus?.(record.id);
  return targets.map((t, i) => ({ url: t.url, rendition: t.rendition, ...(status?.[i] ?? { state: "disconnected", lastError: null }) }));
}

export function registerStreamRoutes(app: FastifyInstance, ctx: StreamRoutesContext): void {
  const guard = ctx.auth.requireScope("streams");
  const owned = (req: FastifyRequest, record: StreamRecord | undefined) => {
    const owner = ownerFilter(req);
    return record && (owner === undefined || record.ownerKeyId === owner) ? record : undefined;
  };

  app.post("/v1/streams", { preHandler: guard, schema: { body: CreateStreamBody } }, async (req, reply) => {
    const body = req.body as CreateStreamBody;
    const pipeline = body.pipeline as Pipeline;
    if (!ctx.hub.supports(pipeline)) return reply.code(400).send(errorBody(400, `pipeline "${pipeline}" is not available on this gateway`));
    const tooDeep = nestingError("body/params", body.params);
    if (tooDeep) return reply.code(400).send(errorBody(400, tooDeep));
    const invalid = ctx.validateOptions?.(pipeline, body);
    if (invalid) return reply.code(400).send(errorBody(400, invalid));
    const targets = body.multistream === undefined ? undefined : parseMultistreamTargets(body.multistream);
    if (targets && !targets.ok) return reply.code(400).send(errorBody(400, targets.reason));
    const record = await ctx.store.create({
      name: body.name,
      pipeline,
      ownerKeyId: req.apiKey!.id,
      options: {
        ...(body.transcodingOptions ? { transcodingOptions: body.transcodingOptions } : {}),
        ...(body.modelId ? { modelId: body.modelId } : {}),
        ...(body.params ? { params: body.params } : {}),
        ...(body.record ? { record: true } : {}),
        ...(body.playbackPolicy?.type === "jwt" ? { playbackPolicy: { type: "jwt" } } : {}),
        ...(targets?.ok && targets.targets.length ? { multistream: targets.targets } : {}),
      },
    }, actorOf(req));
    return reply.code(201).send(streamView(ctx, record));
  });

  app.get("/v1/streams", { preHandler: guard }, async (req) => {
    const records = ctx.store.list(ownerFilter(req));
    const views = records.map((r) => streamView(ctx, r));
    if (ctx.liveElsewhere) {
      // Live on another node of the cluster: its details are there (GET /v1/streams/{id} is proxied).
      const remote = await ctx.liveElsewhere(views.filter((v) => v.state !== "live").map((v) => v.id as string)).catch(() => new Map<string, string>());
      for (const v of views) if (remote.has(v.id as string)) Object.assign(v, { state: "live", node: remote.get(v.id as string) });
    }
    return { streams: views };
  });

  app.get("/v1/streams/:id", { preHandler: guard, schema: { params: Type.Object({ id: StreamId }) } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const record = owned(req, ctx.store.get(id));
    if (!record) return reply.code(404).send(errorBody(404, `stream ${id} not found`));
    return streamView(ctx, record);
  });

  // Admin, or the key that owns the stream. Recording starts with the next session; multistream targets
  // of a live stream are started and stopped at once.
  app.patch("/v1/streams/:id", { preHandler: guard, schema: { params: Type.Object({ id: StreamId }), body: UpdateStreamBody } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const body = req.body as UpdateStreamBody;
    let record = owned(req, ctx.store.get(id));
    if (!record) return reply.code(404).send(errorBody(404, `stream ${id} not found`));
    const targets = body.multistream === undefined ? undefined : parseMultistreamTargets(body.multistream);
    if (targets && !targets.ok) return reply.code(400).send(errorBody(400, targets.reason));
    if (body.params !== undefined) {
      const tooDeep = nestingError("body/params", body.params);
      if (tooDeep) return reply.code(400).send(errorBody(400, tooDeep));
      const applied = await updateLiveParams(ctx, record, body.params);
      if (!applied.ok) return reply.code(applied.status).send(errorBody(applied.status, applied.message));
      record = ctx.store.get(id) ?? record;
    }
    const options = { ...record.options };
    if (body.record !== undefined) options.record = body.record;
    if (body.playbackPolicy !== undefined) options.playbackPolicy = { type: body.playbackPolicy.type };
    if (targets?.ok) options.multistream = targets.targets;
    const updated = await ctx.store.update(id, options);
    if (!updated) return reply.code(404).send(errorBody(404, `stream ${id} not found`));
    ctx.onOptionsChanged?.(updated);
    return streamView(ctx, updated);
  });

  // Admin, or the key that owns the stream. The old key is refused from now on; a publisher
  // already live on it keeps streaming until it disconnects.
  app.post("/v1/streams/:id/rotate-key", { preHandler: guard, schema: { params: Type.Object({ id: StreamId }) } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const record = owned(req, ctx.store.get(id));
    if (!record) return reply.code(404).send(errorBody(404, `stream ${id} not found`));
    const rotated = await ctx.store.rotateKey(id, actorOf(req));
    if (!rotated) return reply.code(404).send(errorBody(404, `stream ${id} not found`));
    return streamView(ctx, rotated);
  });

  app.delete("/v1/streams/:id", { preHandler: guard, schema: { params: Type.Object({ id: StreamId }) } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const record = owned(req, ctx.store.get(id));
    if (!record) return reply.code(404).send(errorBody(404, `stream ${id} not found`));
    ctx.hub.remove(id);
    await ctx.store.delete(id, actorOf(req));
    return reply.code(204).send();
  });
}
