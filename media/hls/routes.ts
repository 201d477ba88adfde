// Public HLS playback routes: /v1/streams/{id}/hls/index.m3u8, /{rendition}/index.m3u8, /{rendition}/{n}.ts
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import type { HlsService } from "./service.ts";

const PLAYLIST_TYPE = "application/vnd.apple.mpegurl";
const Id = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" });

export function registerHlsRoutes(app: FastifyInstance, hls: HlsService): void {
  const notReady = { error: "Not Found", message: "no HLS output for this stream yet (is it live?)" };

  app.get(
    "/v1/streams/:id/hls/index.m3u8",
    { schema: { params: Type.Object({ id: Id }), hide: true } },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      const text = hls.get(id)?.multivariant();
      reply.header("cache-control", "no-cache");
      if (!text) return reply.code(404).send(notReady);
      return reply.type(PLAYLIST_TYPE).send(text);
    },
  );

  app.get(
    "/v1/streams/:id/hls/:rendition/index.m3u8",
    { schema: { params: Type.Object({ id: Id, rendition: Id }), hide: true } },
    async (req, reply) => {
      const { id, rendition } = req.params as { id: string; rendition: string };
      const text = hls.get(id)?.media(rendition);
      reply.header("cache-control", "no-cache");
      if (!text) return reply.code(404).send(notReady);
      hls.audience.saw(id, `${req.ip} ${String(req.headers["user-agent"] ?? "").slice(0, 200)}`);
      return reply.type(PLAYLIST_TYPE).send(text);
    },
  );

  app.get(
    "/v1/streams/:id/hls/:rendition/:file",
    { schema: { params: Type.Object({ id: Id, rendition: Id, file: Type.String({ pattern: "^[0-9]{1,12}\\.ts$" }) }), hide: true } },
    async (req, reply) => {
      const { id, rendition, file } = req.params as { id: string; rendition: string; file: string };
      const bytes = hls.get(id)?.segment(rendition, Number(file.slice(0, -3)));
      if (!bytes) return reply.code(404).send({ error: "Not Found", message: "segment not available (expired or never produced)" });
      reply.header("cache-control", "public, max-age=300, immutable");
      return reply.type("video/mp2t").send(bytes);
    },
  );
}
