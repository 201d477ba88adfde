// /v1/recordings: the VOD assets of recorded sessions (list, get, HLS VOD playlist and segments, MP4, delete).
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { createReadStream } from "node:fs";
import { Type } from "typebox";
import { MP4_FILE, type RecordingService } from "../../media/recording/service.ts";
import { recordedDuration, vodPlaylist } from "../../media/recording/playlist.ts";
import type { Recording, RecordingLookup } from "../../media/recording/store.ts";
import { errorBody } from "../../core/errors.ts";
import { actorOf, ownerFilter, type Authenticator } from "./auth.ts";
import type { PublicUrls } from "./urls.ts";
import { forwardToNode, PROXIED_HEADER } from "../cluster/owner-proxy.ts";
import type { RecordingHolders } from "../recordings/holders.ts";

const Id = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" });
const SegmentFile = Type.String({ pattern: "^[0-9]{1,9}\\.ts$" });
const PLAYLIST_TYPE = "application/vnd.apple.mpegurl";

export interface RecordingRoutesContext {
  recordings: RecordingService;
  auth: Authenticator;
  urls: PublicUrls;
  /** Audit trail for deletions. */
  audit?: (entry: { actor: string; remoteIp: string; action: string; target: string }) => void;
  /** Cluster mode: where the nodes holding other recordings' files run (their requests are proxied there). */
  holders?: RecordingHolders;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

export function recordingView(urls: PublicUrls, r: Recording): Record<string, unknown> {
  const base = `${urls.http}/v1/recordings/${r.id}`;
  return {
    id: r.id,
    streamId: r.streamId,
    state: r.state,
    createdAt: new Date(r.startedAt).toISOString(),
    endedAt: r.endedAt ? new Date(r.endedAt).toISOString() : null,
    readyAt: r.readyAt ? new Date(r.readyAt).toISOString() : null,
    durationSeconds: Math.round(recordedDuration(r.segments) * 1000) / 1000,
    segments: r.segments.length,
    /** Bytes: the MP4 once ready, the recorded segments before. */
    size: r.mp4Size ?? r.segments.reduce((s, x) => s + x.size, 0),
    ...(r.error ? { error: r.error } : {}),
    hlsUrl: `${base}/index.m3u8`,
    mp4Url: r.state === "ready" ? `${base}/${MP4_FILE}` : null,
  };
}

export function registerRecordingRoutes(app: FastifyInstance, ctx: RecordingRoutesContext): void {
  const guard = ctx.auth.requireScope("streams");
  const { recordings } = ctx;
  // Admin, or the key that owned the stream when it was recorded. Cluster mode: any node's recording.
  const lookup = async (req: FastifyRequest, id: string): Promise<RecordingLookup | undefined> => {
    const found = await recordings.store.lookup(id);
    const owner = ownerFilter(req);
    return found && (owner === undefined || found.recording.ownerKeyId === owner) ? found : undefined;
  };
  const find = async (req: FastifyRequest, id: string): Promise<Recording | undefined> => (await lookup(req, id))?.recording;
  const notFound = (id: string) => errorBody(404, `recording ${id} not found`);
  // Cluster mode: the media files stay on the node that recorded them.
  const elsewhere = (id: string, nodeId: string) =>
    errorBody(421, `recording ${id} is stored on another node (${nodeId}); its files are served by that node only`);

  // Cluster mode: a segment, MP4 or delete request for a recording whose files another node holds
  // is proxied to that node before authentication (it authenticates, rate-limits and answers), its
  // bytes streamed. A request proxied once already is answered here (421 if not held here).
  const toHolder = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const holders = ctx.holders;
    const { id } = req.params as { id?: string };
    if (!holders || req.headers[PROXIED_HEADER] !== undefined || !id || !ID.test(id) || recordings.store.get(id)) return;
    let found: RecordingLookup | undefined;
    let holder: Awaited<ReturnType<RecordingHolders["holder"]>>;
    try {
      found = await recordings.store.lookup(id);
      if (!found || found.local) return;
      holder = await holders.holder(found.nodeId);
    } catch (err) {
      return reply.code(503).header("retry-after", "2").send(errorBody(503, `cannot find which node holds recording ${id}'s files: ${(err as Error).message}`));
    }
    if (!holder) {
      return reply.code(503).header("retry-after", "2").header("wharf-recording-node", found.nodeId).send(
        errorBody(503, `recording ${id} is stored on node ${found.nodeId}, which is not running now; a node's recordings are unavailable until it returns`),
      );
    }
    if (holder.nodeId === holders.nodeId) return; // the index names this node under another recording node id: answered here
    const where = holder;
    await forwardToNode(req, reply, {
      self: holders.nodeId,
      owner: where,
      unavailable: (why) => `recording ${id} is stored on node ${found.nodeId} (${where.nodeId}, ${where.address}), which did not answer (${why}); a node's recordings are unavailable until it returns`,
    });
  };

  app.get(
    "/v1/recordings",
    { preHandler: guard, schema: { summary: "Recordings, newest first", tags: ["recordings"], querystring: Type.Object({ stream: Type.Optional(Id) }) } },
    async (req) => {
      const { stream } = req.query as { stream?: string };
      return { recordings: (await recordings.store.query({ streamId: stream, ownerKeyId: ownerFilter(req) })).map((r) => recordingView(ctx.urls, r)) };
    },
  );

  app.get("/v1/recordings/:id", { preHandler: guard, schema: { summary: "One recording", tags: ["recordings"], params: Type.Object({ id: Id }) } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const r = await find(req, id);
    return r ? recordingView(ctx.urls, r) : reply.code(404).send(notFound(id));
  });

  // While recording: an EVENT playlist of the segments so far; after: the VOD playlist.
  app.get("/v1/recordings/:id/index.m3u8", { preHandler: guard, schema: { hide: true, params: Type.Object({ id: Id }) } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const r = await find(req, id);
    if (!r) return reply.code(404).send(notFound(id));
    const ended = r.state !== "recording";
    reply.header("cache-control", ended ? "private, max-age=86400" : "no-cache");
    return reply.type(PLAYLIST_TYPE).send(vodPlaylist(r.segments, ended));
  });

  app.get("/v1/recordings/:id/:file", { onRequest: toHolder, preHandler: guard, schema: { hide: true, params: Type.Object({ id: Id, file: Type.Union([SegmentFile, Type.Literal(MP4_FILE)]) }) } }, async (req, reply) => {
    const { id, file } = req.params as { id: string; file: string };
    const found = await lookup(req, id);
    if (!found) return reply.code(404).send(notFound(id));
    if (!found.local) return reply.code(421).header("wharf-recording-node", found.nodeId).send(elsewhere(id, found.nodeId));
    const r = found.recording;
    if (file === MP4_FILE) {
      if (r.state !== "ready") return reply.code(404).send(errorBody(404, `recording ${id} has no MP4 yet (state ${r.state}${r.error ? `: ${r.error}` : ""})`));
      // @fastify/static answers Range requests (206, Content-Range) and HEAD.
      return reply.header("cache-control", "private, max-age=86400").sendFile(MP4_FILE, recordings.store.dir(id), { cacheControl: false });
    }
    if (!r.segments.some((s) => s.uri === file)) return reply.code(404).send(errorBody(404, `recording ${id} has no segment ${file}`));
    return reply.header("cache-control", "private, max-age=86400").type("video/mp2t").send(createReadStream(recordings.file(id, file)));
  });

  app.delete("/v1/recordings/:id", { onRequest: toHolder, preHandler: guard, schema: { summary: "Delete a recording and its files", tags: ["recordings"], params: Type.Object({ id: Id }) } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const found = await lookup(req, id);
    if (!found) return reply.code(404).send(notFound(id));
    if (!found.local) return reply.code(421).header("wharf-recording-node", found.nodeId).send(elsewhere(id, found.nodeId));
    recordings.delete(id);
    ctx.audit?.({ ...actorOf(req), action: "recording.deleted", target: id });
    return reply.code(204).send();
  });
}
