// Public thumbnail route: GET /v1/streams/{id}/thumbnail.jpg[?rendition=], the latest keyframe as JPEG.
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import type { ThumbnailService } from "./service.ts";

const Id = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" });

export function registerThumbnailRoutes(app: FastifyInstance, thumbnails: ThumbnailService): void {
  app.get(
    "/v1/streams/:id/thumbnail.jpg",
    { schema: { summary: "The stream's latest keyframe as JPEG (public, like its HLS)", tags: ["streams"], params: Type.Object({ id: Id }), querystring: Type.Object({ rendition: Type.Optional(Id) }) } },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      const { rendition } = req.query as { rendition?: string };
      let thumb;
      try {
        thumb = await thumbnails.thumbnail(id, rendition);
      } catch (err) {
        return reply.code(502).send({ error: "Bad Gateway", message: `the thumbnail could not be cut from the latest segment: ${(err as Error).message.slice(0, 300)}` });
      }
      if (!thumb) return reply.code(404).send({ error: "Not Found", message: `no complete segment of stream ${id}${rendition ? ` rendition ${rendition}` : ""} yet (is it live?)` });
      // Current until the next segment completes, about one segment duration from now.
      reply.header("cache-control", `public, max-age=${Math.max(1, Math.round(thumb.segment.duration))}`);
      reply.header("etag", thumb.tag);
      if (req.headers["if-none-match"] === thumb.tag) return reply.code(304).send();
      return reply.type("image/jpeg").send(thumb.jpeg);
    },
  );
}
