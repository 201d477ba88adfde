// Public HLS playback routes: /v1/streams/{id}/hls/index.m3u8, /{rendition}/index.m3u8 (with
// `_HLS_msn`/`_HLS_part` blocking reload), /{rendition}/{msn}.ts and LL-HLS parts /{rendition}/{msn}.{part}.ts
import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { parseBlockingRequest } from "./blocking-reload.ts";
import type { HlsService } from "./service.ts";

const PLAYLIST_TYPE = "application/vnd.apple.mpegurl";
const Id = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" });
const MediaFile = Type.String({ pattern: "^[0-9]{1,12}(\\.[0-9]{1,4})?\\.ts$" });

export function registerHlsRoutes(app: FastifyInstance, hls: HlsService): void {
  const notReady = { error: "Not Found", message: "no HLS output for this stream yet (is it live?)" };

  app.get(
    "/v1/streams/:id/hls/index.m3u8",
    { schema: { params: Type.Object({ id: Id }), hide: true } },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      reply.header("cache-control", "no-cache");
      // A stream that does not exist says so (a player stops waiting); one not live yet may come.
      if (!hls.knows(id)) return reply.code(404).send({ error: "Not Found", code: "no-such-stream", message: `no stream ${id} on this gateway` });
      const text = await hls.get(id)?.awaitMultivariant(hls.firstSegmentWaitMs);
      if (!text) return reply.code(404).send(notReady);
      return reply.type(PLAYLIST_TYPE).send(text);
    },
  );

  app.get(
    "/v1/streams/:id/hls/:rendition/index.m3u8",
    { schema: { params: Type.Object({ id: Id, rendition: Id }), hide: true } },
    async (req, reply) => {
      const { id, rendition } = req.params as { id: string; rendition: string };
      reply.header("cache-control", "no-cache");
      const blocking = parseBlockingRequest(req.query as Record<string, unknown>);
      if (!blocking.ok) return reply.code(400).send({ error: "Bad Request", message: blocking.reason });
      const packager = hls.get(id);
      if (!packager) return reply.code(404).send(notReady);
      const answer = await packager.awaitMedia(rendition, blocking.request, hls.firstSegmentWaitMs, hls.blockingWaitMs);
      if (answer.status !== 200) {
        const error = answer.status === 400 ? "Bad Request" : answer.status === 503 ? "Service Unavailable" : "Not Found";
        return reply.code(answer.status).send({ error, message: answer.message });
      }
      hls.audience.saw(id, `${req.ip} ${String(req.headers["user-agent"] ?? "").slice(0, 200)}`);
      return reply.type(PLAYLIST_TYPE).send(answer.text);
    },
  );

  app.get(
    "/v1/streams/:id/hls/:rendition/:file",
    { schema: { params: Type.Object({ id: Id, rendition: Id, file: MediaFile }), hide: true } },
    async (req, reply) => {
      const { id, rendition, file } = req.params as { id: string; rendition: string; file: string };
      const [msn, part] = file.slice(0, -3).split(".").map(Number) as [number, number | undefined];
      const packager = hls.get(id);
      const held = part === undefined ? packager?.segment(rendition, msn) : await packager?.awaitPart(rendition, msn, part, hls.blockingWaitMs);
      if (!held) return reply.code(404).send({ error: "Not Found", message: `${part === undefined ? "segment" : "part"} not available (expired or never produced)` });
      // The bytes are views of the segment's memory, held until the response is done with them
      // (at once when the client left while the request waited: "close" will not come again).
      const res = reply.raw;
      if (res.destroyed || !res.socket || res.socket.destroyed) held.release();
      else res.once("close", held.release);
      reply.header("cache-control", "public, max-age=300, immutable").header("content-length", held.size);
      return reply.type("video/mp2t").send(held.chunks.length === 1 ? held.chunks[0] : Readable.from(held.chunks));
    },
  );
}
