// GET /metrics (Prometheus text), optionally behind its own bearer token; and the HTTP timing hook.
import type { FastifyInstance } from "fastify";
import { bearerToken } from "../accounts/guard.ts";
import { errorBody } from "../../core/errors.ts";
import { metrics, registry } from "../../core/metrics.ts";

export function registerMetrics(app: FastifyInstance, token: string): void {
  app.addHook("onResponse", (req, reply, done) => {
    const route = req.routeOptions.url ?? "unmatched";
    if (route !== "/metrics") {
      metrics.httpRequests.observe(
        { route, method: req.method, status: `${Math.floor(reply.statusCode / 100)}xx` },
        reply.elapsedTime / 1000,
      );
    }
    done();
  });
  app.get("/metrics", { schema: { hide: true } }, async (req, reply) => {
    if (token && bearerToken(req.headers.authorization) !== token) {
      reply.header("www-authenticate", 'Bearer realm="metrics"');
      return reply.code(401).send(errorBody(401, "metrics need Authorization: Bearer <metricsToken>"));
    }
    reply.type(registry.contentType);
    return registry.metrics();
  });
}
