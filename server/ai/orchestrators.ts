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
  /** The orchestrator wants tickets for this work (ticket params and a non-zero price). */
  paid: boolean;
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

/** What one request to one orchestrator carries to pay for itself. */
export interface AiPaymentTicket {
  /** `Livepeer-Payment` header value ("" for an orchestrator that charges nothing). */
  payment: string;
  /** Expected value of the tickets sent with it, wei. */
  evWei: bigint;
  /** The auth token to present (a refresh during payment may have renewed it). */
  authToken?: AuthToken;
  /** "done" once the orchestrator did (or may have done) the work, "not-done" when it surely did not. */
  settle(outcome: "done" | "not-done"): void;
}

/**
 * Paying orchestrators (absent: no remote signer, work goes unpaid to free orchestrators).
 * Throws protocol/payments PaymentRefusal when the work cannot be paid.
 */
export interface AiPayments {
  pay(cand: AiCandidate, capability: number, model: string, units: number, signal?: AbortSignal): Promise<AiPaymentTicket>;
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
