// What batch AI needs from orchestrator discovery and selection, as a narrow
// interface (`AiOrchestratorSource`); registry-source.ts backs it with the shared
// registry in server/orchestrators.
import type { AuthToken } from "../../protocol/messages.ts";
import type { Price } from "../orchestrators/prices.ts";


export interface AiCandidate {
  /** Registry identity (the orchAddr URL). */
  address: string;
  /** OrchestratorInfo.transcoder: where `POST /<pipeline>` goes. */
  serviceUrl: string;
  authToken: AuthToken;
  price: Price;
  warm: boolean;
}

export type NoCandidateReason = "no-orchestrators" | "no-capability" | "no-model" | "over-price" | "exhausted";

export type AiSelection =
  | { ok: true; candidates: AiCandidate[] }
  | { ok: false; reason: NoCandidateReason; message: string };

export interface AiSelectRequest {
  pipeline: string;
  capability: number;
  modelId: string;
  /** Addresses already tried for this request. */
  exclude: ReadonlySet<string>;
}

export interface AiOrchestratorSource {
  /** Candidates for (capability, model), best first: warm before cold, under the price cap, scored. */
  select(req: AiSelectRequest): Promise<AiSelection>;
  reportSuccess(address: string, latencyMs: number): void;
  /** Network error, timeout, 5xx, bad credentials: penalise (requestId: the request it happened in, for logs). */
  reportFailure(address: string, reason: string, requestId?: string): void;
  /** 503 insufficient capacity: skip for a moment, no penalty. */
  reportBusy(address: string): void;
  /** The orchestrator refused our credentials (expired token?): refresh its info. */
  invalidate?(address: string): void;
}
