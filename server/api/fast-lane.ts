// Paths served ahead of fastify: the HTTP server's request listener offers each request to the
// lanes first, and hands it to fastify when none takes it. For a hot path whose answer is
// relayed from elsewhere (a single-shot app run: server/apps/single-shot.ts), fastify's work per
// request (routing, the onRequest hooks, CORS, the content-type parser, Request/Reply objects,
// a request id) was a sixth of the gateway's CPU per request, with nothing of it reaching the
// relayed answer.
//
// A lane that takes a request may still hand it to fastify later (`toFastify`): a refusal is
// then sent by fastify, with the headers (CORS, x-wharf-node) and shape every other reply has.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import { metrics } from "../../core/metrics.ts";
import type { HistogramSeries } from "../../core/series-histogram.ts";

/**
 * Offered every request before fastify. Returns false to leave it to fastify; true when it took
 * it, and then it either answers it or calls `toFastify(req, res)` once, before writing anything.
 */
export type FastLane = (req: IncomingMessage, res: ServerResponse, toFastify: Listener) => boolean;

export type Listener = (req: IncomingMessage, res: ServerResponse) => void;
const installed = new WeakMap<FastifyInstance, FastLane[]>();

/** Call before `listen`. */
export function addFastLane(app: FastifyInstance, lane: FastLane): void {
  let lanes = installed.get(app);
  if (!lanes) {
    const list: FastLane[] = (lanes = []);
    installed.set(app, list);
    const server = app.server;
    const fastify = server.listeners("request")[0] as Listener | undefined;
    if (!fastify) throw new Error("fastify's request listener is not installed");
    server.removeListener("request", fastify);
    // While fastify closes, everything goes to it (it answers 503 and closes connections).
    let closing = false;
    app.addHook("preClose", (done) => {
      closing = true;
      done();
    });
    const toFastify: Listener = (req, res) => fastify.call(server, req, res);
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      if (!closing) for (const l of list) if (l(req, res, toFastify)) return;
      fastify.call(server, req, res);
    });
  }
  lanes.push(lane);
}

/** Series by route, method and status class: a lane's routes are few and llhttp knows ~35 methods. */
const seriesOf = new Map<string, Map<string, HistogramSeries[]>>();

/** The HTTP timing metric of a request a lane answered (fastify's own: server/metrics/routes.ts). */
export function observeLaneRequest(route: string, method: string, res: ServerResponse, startedAt: number): void {
  const statusClass = Math.floor(res.statusCode / 100);
  let byMethod = seriesOf.get(route);
  if (!byMethod) seriesOf.set(route, (byMethod = new Map()));
  let byClass = byMethod.get(method);
  if (!byClass) byMethod.set(method, (byClass = []));
  const series = (byClass[statusClass] ??= metrics.httpRequests.series({ route, method, status: `${statusClass}xx` }));
  series.observe((performance.now() - startedAt) / 1000);
}
