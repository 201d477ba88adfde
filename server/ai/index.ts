// Batch AI wiring for the composition root: price caps, orchestrator source,
// result store, usage metering through the accounts ledger, routes.
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Config } from "../config/schema.ts";
import { ConfigError } from "../config/load.ts";
import { readJsonSetting } from "../config/json-setting.ts";
import type { Accounts } from "../accounts/index.ts";
import { ClusterUnavailableError } from "../accounts/accounts.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import type { AiOrchestratorSource, AiPayments } from "./orchestrators.ts";
import { registryAiSource } from "./registry-source.ts";
import { parsePriceCaps, PriceCapError, type PriceCaps } from "../orchestrators/price-caps.ts";
import { ResultStore } from "./results.ts";
import { registerAiRoutes, type PreHandler } from "./routes.ts";
import { AiService, type AiBilling } from "./service.ts";
import { AdmissionQueue } from "./admission-queue.ts";

export { AiService, AiHttpError, type AiBilling, type AiUsage } from "./service.ts";
export type { AiOrchestratorSource, AiCandidate, AiSelection } from "./orchestrators.ts";
export { ResultStore } from "./results.ts";
export { registerAiRoutes, sdkRefusal } from "./routes.ts";
export { parsePriceCaps, PriceCaps } from "../orchestrators/price-caps.ts";

export interface BatchAiDeps {
  config: Config;
  dataDir: string;
  accounts: Accounts;
  /** preHandler for scope "ai". */
  auth: PreHandler;
  /** Wharf's public base URL (known after listen). */
  publicUrl: () => string;
  /** The shared orchestrator registry that selection goes through. */
  registry: OrchestratorRegistry;
  /** Selection override (tests); default: the registry with the configured price caps. */
  source?: AiOrchestratorSource;
  /** Pays orchestrators that want tickets (a remote signer is configured). */
  payments?: AiPayments;
  /** Every answered AI request (server/dashboard). */
  observe?: (pipeline: string, status: number, durationMs: number) => void;
}

export interface BatchAi {
  service: AiService;
  results: ResultStore;
  caps: PriceCaps;
  stop(): void;
}

export function loadPriceCaps(config: Config): PriceCaps {
  try {
    const json = config.maxPricePerCapability ? readJsonSetting<unknown>("maxPricePerCapability", config.maxPricePerCapability) : undefined;
    return parsePriceCaps(json, { maxPricePerUnit: config.maxPricePerUnit, pixelsPerUnit: config.pixelsPerUnit });
  } catch (err) {
    if (err instanceof PriceCapError) throw new ConfigError(err.message);
    throw err;
  }
}

const NO_RESERVATION = { ok: true, release: () => {} } as const;

/** Accounts-backed billing: spend-cap reservation before dispatch, durable usage record before replying. */
export function accountsBilling(accounts: Accounts): AiBilling {
  return {
    async reserve(key, pipeline, units, projectedCostWei) {
      // No cap on the key: nothing to check or hold back (the usage record still bills it).
      if (!key || (key.dailyCapMicros === null && key.monthlyCapMicros === null)) return NO_RESERVATION;
      const micros = accounts.priceBook.charge({ pipeline, units, orchestratorCostWei: projectedCostWei });
      let d;
      try {
        d = await accounts.checkSpend(key, micros, { reserve: true });
      } catch (err) {
        // Cluster mode, Redis or PostgreSQL unreachable: a clear 503, not an internal error.
        if (err instanceof ClusterUnavailableError) return { ok: false, status: 503, message: err.message, headers: { "retry-after": "1" } };
        throw err;
      }
      if (d.ok) return { ok: true, release: d.release };
      return { ok: false, status: 402, message: d.message, headers: { "retry-after": String(Math.max(1, Math.ceil((d.resetsAt - Date.now()) / 1000))) } };
    },
    async record(u) {
      await accounts.recordBatchUsage({
        keyId: u.keyId, pipeline: u.pipeline, model: u.model, units: u.units,
        orchestrator: u.orchestrator, orchestratorCostWei: u.orchestratorCostWei, paidWei: u.paidWei, requestId: u.requestId,
      });
    },
    async refund(requestId, reason) {
      await accounts.refundBatchUsage(requestId, reason);
    },
    async settle(requestId, final) {
      await accounts.settleBatchUsage(requestId, final);
    },
  };
}

export async function startBatchAi(app: FastifyInstance, deps: BatchAiDeps): Promise<BatchAi> {
  const { config } = deps;
  const caps = loadPriceCaps(config);
  const source = deps.source ?? registryAiSource(deps.registry, caps, { ignoreMaxPriceIfNeeded: config.ignoreMaxPriceIfNeeded });
  const results = new ResultStore({ dir: join(deps.dataDir, "ai-results"), ttlSec: config.resultTtlSec });
  results.register(app);
  const queue = config.aiQueueTimeoutMs > 0 ? new AdmissionQueue({ timeoutMs: config.aiQueueTimeoutMs, maxLength: config.aiQueueMax }) : undefined;
  // On shutdown the waiting requests get their 503 at once rather than holding the close up.
  if (queue) app.addHook("preClose", (done) => {
    queue.close();
    done();
  });
  const service = new AiService({
    source,
    results,
    billing: accountsBilling(deps.accounts),
    publicUrl: deps.publicUrl,
    retryBudget: config.aiRetryBudget,
    timeoutMs: config.aiTimeoutMs,
    payments: deps.payments,
    queue,
    answerMemoryBytes: config.aiAnswerMemoryMb * 1024 * 1024,
  });
  await registerAiRoutes(app, { service, auth: deps.auth, observe: deps.observe });
  return {
    service, results, caps,
    stop() {
      queue?.close();
      results.close();
    },
  };
}
