// Apps wiring for the composition root: discovery feeds the registry (server/orchestrators), the
// session and single-shot services pay through the signer and bill through the accounts ledger.
import type { IncomingMessage } from "node:http";
import type { FastifyInstance } from "fastify";
import type { GuardResult } from "../accounts/guard.ts";
import type { Accounts } from "../accounts/index.ts";
import type { PreHandler } from "../api/auth.ts";
import type { EventBus } from "../events/bus.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import type { AppPayer } from "./payments.ts";
import { ByocJobs } from "./byoc.ts";
import { registerAppRoutes } from "./routes.ts";
import { AppRuns } from "./runs.ts";
import { AppSessions } from "./sessions.ts";

export { fetchOrchestratorApps } from "./discovery.ts";

export interface AppsDeps {
  accounts: Accounts;
  registry: OrchestratorRegistry;
  events: EventBus;
  payer?: AppPayer;
  auth: PreHandler;
  /** The same checks as `auth` on a plain Node request (single-shot runs are served ahead of fastify). */
  authRaw: (req: IncomingMessage) => GuardResult | Promise<GuardResult>;
  publicUrl: () => string;
  /** Seconds between a session's payments and bills (livePaymentInterval). */
  intervalSec: number;
  region?: string;
}

export async function startApps(app: FastifyInstance, d: AppsDeps): Promise<{ sessions: AppSessions; stop(): Promise<void> }> {
  const sessions = new AppSessions({
    registry: d.registry, accounts: d.accounts, payer: d.payer, intervalMs: d.intervalSec * 1000, region: d.region,
    onEnded: (e) => d.events.publish("app.session_ended", e),
  });
  d.accounts.on("keyRevoked", (keyId) => void sessions.endKey(keyId, "key-revoked"));
  const runs = new AppRuns(d.registry, d.accounts, d.payer);
  const byoc = new ByocJobs(d.registry, d.payer);
  await registerAppRoutes(app, { accounts: d.accounts, registry: d.registry, sessions, runs, byoc, auth: d.auth, authRaw: d.authRaw, publicUrl: d.publicUrl, region: d.region });
  return { sessions, stop: () => sessions.stop() };
}
