// Builds the HTTP app: error shape, CORS, pages, and every route module.
import { lazyChildLogger } from "./request-logger.ts";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import cors from "@fastify/cors";
import fastifyStatic from "@fastify/static";
import swagger from "@fastify/swagger";
import { existsSync } from "node:fs";
import { STATUS_CODES } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import { v7 as uuidv7 } from "uuid";
import { rootLogger } from "../../core/log.ts";
import { RandomPool } from "../random-pool.ts";
import { installErrorHandlers } from "./errors.ts";
import { installValidation } from "./validation.ts";
import { CORS_EXPOSED_HEADERS } from "./relay-cors.ts";

const require = createRequire(import.meta.url);
const requestIdRandom = new RandomPool();
/** The folder holding package.json (the repo, or the image's app folder when running compiled code from dist/). */
export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

export interface AppOptions {
  bodyLimit?: number;
  /**
   * Headers and body must arrive within this (default 300 s, Node's own default, which fastify
   * turns off). Node checks it every 30 s, or every half of it when it is shorter.
   */
  requestTimeoutMs?: number;
}

/**
 * A request that broke off (timed out, malformed): 408 or 400 with a JSON body, as fastify's own
 * handler answers, except when an answer to it is already under way (a session relay streaming
 * while its client still uploads): then the connection is only closed, as Node's own handler does,
 * instead of writing a status line into the middle of that answer.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !answering?.headersSent) {
    const [status, error, message] =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? [408, "request_timeout", "the request's headers and body did not arrive in time (httpRequestTimeoutSec)"]
      : err.code === "HPE_HEADER_OVERFLOW" ? [431, "headers_too_large", "the request's headers are too large"]
      : [400, "bad_request", "malformed HTTP request"];
    const body = JSON.stringify({ error, message });
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

export async function createApp(opts: AppOptions = {}): Promise<FastifyInstance> {
  const requestTimeout = opts.requestTimeoutMs ?? 300_000;
  const app: FastifyInstance = Fastify({
    loggerInstance: rootLogger.child({ module: "http" }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLogger,
    // One id per request, time-ordered (UUIDv7): request log lines carry it as reqId, and a
    // batch AI request hands it on to selection, the orchestrator call and its usage record.
    genReqId: () => uuidv7({ rng: () => requestIdRandom.take(16) }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    trustProxy: false,
    requestTimeout,
    // Node checks the request timeout only when the headers' timeout is not longer (it enforces that
    // when it creates the server; fastify sets requestTimeout after, so it is given here too).
    http: { requestTimeout, headersTimeout: Math.min(60_000, requestTimeout), connectionsCheckingInterval: Math.min(30_000, requestTimeout / 2) },
    clientErrorHandler: answerClientError,
  });
  installErrorHandlers(app);
  installValidation(app);
  await app.register(cors, {
    origin: true,
    methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    exposedHeaders: CORS_EXPOSED_HEADERS,
    // A plain OPTIONS (a WHIP client asking what the endpoint takes) is answered, not a 400.
    strictPreflight: false,
  });
  // OpenAPI document generated from the route schemas.
  await app.register(swagger, {
    openapi: {
      info: { title: "Wharf", description: "Self-hosted Livepeer gateway API", version: "1" },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });
  app.get("/docs/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  // Pages (public; the dashboard's data is admin-only): landing, player, publisher, viewer, dashboard.
  await app.register(fastifyStatic, { root: join(REPO_ROOT, "web-player"), prefix: "/", index: ["index.html"] });
  // hls.js for the player page, straight from the installed package.
  await app.register(fastifyStatic, {
    root: join(dirname(require.resolve("hls.js/package.json")), "dist"),
    prefix: "/vendor/hls/",
    decorateReply: false,
  });
  // uPlot for the dashboard's charts, likewise (dist/uPlot.esm.js, dist/uPlot.min.css).
  await app.register(fastifyStatic, {
    root: join(dirname(require.resolve("uplot/package.json")), "dist"),
    prefix: "/vendor/uplot/",
    decorateReply: false,
  });
  return app;
}
