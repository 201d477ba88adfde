// /healthz: the process is alive. /readyz: every dependency is ready (503 otherwise).
import type { FastifyInstance } from "fastify";

export type ReadinessCheck = () => boolean | Promise<boolean>;

export function registerHealthRoutes(app: FastifyInstance, checks: Record<string, ReadinessCheck>): void {
  const startedAt = Date.now();
  app.get("/healthz", async () => ({ status: "ok", uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) }));
  app.get("/readyz", async (_req, reply) => {
    const results: Record<string, boolean> = {};
    for (const [name, check] of Object.entries(checks)) {
      try {
        results[name] = await check();
      } catch {
        results[name] = false;
      }
    }
    const ready = Object.values(results).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready", checks: results });
  });
}
