// GET /v1/orchestrators: the registry's state (no secrets). Auth is the
// caller's: pass a preHandler (e.g. an admin-key check).
import type { FastifyInstance, preHandlerHookHandler } from "fastify";
import type { OrchestratorRegistry } from "./registry.ts";

export interface OrchestratorRoutesOptions {
  preHandler?: preHandlerHookHandler | preHandlerHookHandler[];
  /** Route prefix (default "/v1"). */
  prefix?: string;
  /** The remote signer's state (null: Wharf pays no one). */
  signer?: () => unknown;
}

export function registerOrchestratorRoutes(app: FastifyInstance, registry: OrchestratorRegistry, opts: OrchestratorRoutesOptions = {}): void {
  const prefix = opts.prefix ?? "/v1";
  app.get(
    `${prefix}/orchestrators`,
    {
      preHandler: opts.preHandler,
      schema: {
        summary: "Known orchestrators: info, prices, capabilities, latency, reliability, suspension",
        tags: ["orchestrators"],
      },
    },
    async () => ({
      orchestrators: registry.snapshot(),
      webhook: registry.webhookStatus(),
      signer: opts.signer?.() ?? null,
    }),
  );
}
