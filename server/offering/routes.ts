// GET /v1/offering: public and cacheable (max-age=60); built at most once a minute.
import type { FastifyInstance } from "fastify";
import type { PriceBook } from "../accounts/pricing.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import { buildOffering, type OfferingConfig } from "./offering.ts";
import { PerformanceWindow } from "./performance.ts";

export const OFFERING_MAX_AGE_SEC = 60;

export interface OfferingRoutesOptions {
  config: OfferingConfig;
  registry: Pick<OrchestratorRegistry, "snapshot">;
  priceBook: PriceBook;
  now?: () => number;
}

/** Registers the route; the returned window takes batch AI answers (pipeline, status, ms). */
export function registerOfferingRoutes(app: FastifyInstance, opts: OfferingRoutesOptions): PerformanceWindow {
  const now = opts.now ?? Date.now;
  const performance = new PerformanceWindow(now);
  let cached: { at: number; body: string } | undefined;
  app.get("/v1/offering", { schema: { summary: "This gateway's public offering: name, regions, SLA, pipelines and models served now, prices, measured performance", tags: ["offering"], security: [] } }, async (_req, reply) => {
    const t = now();
    if (!cached || t - cached.at >= OFFERING_MAX_AGE_SEC * 1000) {
      cached = { at: t, body: JSON.stringify(buildOffering({ config: opts.config, orchestrators: opts.registry.snapshot(), priceBook: opts.priceBook, performance: performance.summary(), now: t })) };
    }
    reply.header("cache-control", `public, max-age=${OFFERING_MAX_AGE_SEC}`);
    return reply.type("application/json; charset=utf-8").send(cached.body);
  });
  return performance;
}
