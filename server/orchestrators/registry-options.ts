// What an OrchestratorRegistry is configured with (registry.ts): where orchestrators come from
// (orchAddr, the webhook), which are allowed, how often they are asked again, and test injection.
import type { Logger } from "../../core/log.ts";
import type { OrchestratorInfo, OrchestratorRequest } from "../../protocol/messages.ts";
import type { ClientTlsPolicy } from "../../protocol/tls.ts";
import type { Candidate } from "./discovery.ts";
import type { LocalLoad } from "./local-load.ts";
import type { OrchestratorApps } from "./orchestrator-state.ts";

export interface RegistryOptions {
  /** Comma list of orchestrator URLs (orchAddr). */
  orchAddr?: string;
  /** Webhook returning [{address, score}] (orchWebhookUrl). */
  orchWebhookUrl?: string;
  webhookIntervalMs?: number;
  /** Address -> region label (static knowledge; webhook entries may carry `region`). */
  regions?: Record<string, string>;
  /** Preferred region. */
  region?: string;
  allow?: string[];
  deny?: string[];
  tls?: ClientTlsPolicy;
  /** Refresh OrchestratorInfo at least this often (default 60 s). */
  infoMaxAgeMs?: number;
  /** Backoff for unreachable orchestrators: base and max (default 1 s, 60 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** GetOrchestrator deadline (default 4 s). */
  grpcTimeoutMs?: number;
  /** Concurrent GetOrchestrator calls during a refresh round (default 8). */
  refreshConcurrency?: number;
  /** Background loop tick (default 500 ms). */
  tickMs?: number;
  /** First suspension length; doubles per consecutive fault level (default 5 s, max 10 min). */
  suspensionBaseMs?: number;
  suspensionMaxMs?: number;
  busyCooldownMs?: number;
  /** The sender fields of GetOrchestrator (address and signature from the remote signer), once known. */
  request?: () => OrchestratorRequest | undefined;
  /** The apps an orchestrator hosts (`GET {orchestrator}/discovery`, Live Runner and BYOC); not asked when absent. */
  fetchApps?: (address: string) => Promise<OrchestratorApps>;
  /** Ask for apps at least this often (default 5 s: capacity changes quickly). */
  appsMaxAgeMs?: number;
  /** Injection points for tests. */
  fetchInfo?: (address: string) => Promise<OrchestratorInfo>;
  fetchCandidates?: () => Promise<Candidate[]>;
  now?: () => number;
  random?: () => number;
  logger?: Logger;
  /** Whether this process is overloaded (default: its event-loop delay, shared by the whole process). */
  localLoad?: Pick<LocalLoad, "overloaded">;
}
