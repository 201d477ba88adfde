// Mounting a trickle server: a plain node:http/http2 listener, or a fastify plugin.
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import type { TrickleHttpRequest, TrickleHttpResponse, TrickleServer } from "./server.ts";

/**
 * A plain node:http / node:http2 request listener for `basePath` (e.g. "/ai/trickle").
 * Returns false when the URL is not under the base path (so the caller can route it elsewhere).
 */
export function createTrickleHandler(
  server: TrickleServer,
  basePath: string,
): (req: TrickleHttpRequest, res: TrickleHttpResponse) => boolean {
  const base = basePath.replace(/\/+$/, "") + "/";
  return (req, res) => {
    const url = req.url ?? "/";
    if (!url.startsWith(base)) return false;
    server.handle(req, res, url.slice(base.length));
    return true;
  };
}

export interface TricklePluginOptions {
  server: TrickleServer;
}

/**
 * Fastify plugin: `app.register(tricklePlugin, { prefix: "/ai/trickle", server })`.
 * Request bodies are never buffered by fastify (a pass-through content-type parser is installed
 * in this plugin's encapsulated context) and responses are written raw (`reply.hijack()`), so
 * segments stream both ways.
 */
export const tricklePlugin: FastifyPluginAsync<TricklePluginOptions> = async (app: FastifyInstance, opts) => {
  const server = opts.server;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined));

  type P1 = { Params: { channel: string } };
  type P2 = { Params: { channel: string; seq: string } };
  const one = (method: string) => async (request: import("fastify").FastifyRequest<P1>, reply: import("fastify").FastifyReply) => {
    reply.hijack();
    server.route(method, request.params.channel, undefined, request.raw, reply.raw);
  };
  const two = (method: string) => async (request: import("fastify").FastifyRequest<P2>, reply: import("fastify").FastifyReply) => {
    reply.hijack();
    server.route(method, request.params.channel, request.params.seq, request.raw, reply.raw);
  };
  app.post<P1>("/:channel", one("POST"));
  app.delete<P1>("/:channel", one("DELETE"));
  app.get<P2>("/:channel/:seq", two("GET"));
  app.post<P2>("/:channel/:seq", two("POST"));
  app.delete<P2>("/:channel/:seq", two("DELETE"));
};
