// Single-shot app requests and BYOC jobs: one request, buffered so it can be tried again on
// another runner when the first fails before sending a byte (unreachable, busy, refused payment),
// billed per request once the answer was relayed (or once a paid request went out and its client
// left: the work was done). A single-shot run is paid once with the
// parameters of its own 402 challenge (challengeAttempt); a BYOC job as its target says (byoc.ts).
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { decodeBase64, type OrchestratorInfo } from "../../protocol/messages.ts";
import { orchestratorDispatcher } from "../../protocol/http-agent.ts";
import { relayBuffered } from "../../protocol/http-relay.ts";
import type { ProxyOutcome } from "../../core/reverse-proxy.ts";
import { PAYER_ADDRESS_HEADER } from "../../protocol/apps/live-runner.ts";
import type { Accounts, ApiKey } from "../accounts/index.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import { AppError } from "./sessions.ts";
import { challengeOf, payOnce, type AppPayer } from "./payments.ts";

/** Targets tried for one request. */
export const MAX_RUN_ATTEMPTS = 3;
const RUN_HEAD_TIMEOUT_MS = 60_000;

export interface RunTarget {
  orchestrator: string;
  /** The URL the request goes to (path and query included). */
  url: URL;
  /** Wei the orchestrator charges for this request (projected). */
  costWei: bigint;
  /** Headers only this target needs. */
  headers?: Record<string, string | undefined>;
  /** How this target is tried, when not as a Live Runner single-shot (a BYOC job: server/apps/byoc.ts). */
  attempt?: (r: RunRequest, res: ServerResponse) => Promise<RunAttempt>;
}

/**
 * One target's try: refused, with the reason the try names (its payment failed, the orchestrator
 * turned the request down before any work) and any tickets sent anyway; or the relay's outcome and
 * what was paid.
 */
export type RunAttempt =
  | { refused: string; out?: undefined; paidWei?: bigint; /** No other target is to be tried (the job ran out of its time). */ final?: boolean }
  | {
      refused?: undefined;
      out: ProxyOutcome;
      paidWei: bigint;
      /** What the orchestrator charges, when known only after the answer. */
      costWei?: bigint;
      /** The request went out while the client was there: the work was done (and paid for) even if the client left. */
      sent: boolean;
    };

export interface RunRequest {
  key: ApiKey;
  /** Usage record: pipeline and model. */
  pipeline: string;
  model: string;
  method: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  targets: RunTarget[];
  /** Why nothing can take the request, when `targets` is empty. */
  noTargetReason: string;
  /** How long a target may take to begin its answer (default RUN_HEAD_TIMEOUT_MS). */
  headTimeoutMs?: number;
}

/** A capped key's spend reservation, until a billed run hands it over to its usage record. */
interface Hold {
  release?: () => void;
}
/** The client's own credentials are Wharf's, not the runner's. */
const DROP_AUTHORIZATION: Readonly<Record<string, undefined>> = Object.freeze({ authorization: undefined });
/** Answers that are not the runner's (payment, busy, unreachable): the request may go elsewhere. */
const notRelayedUnpaid = (status: number) => status === 402 || status === 502 || status === 503;
/** A paid request's 400 is the orchestrator refusing its payment. */
const notRelayedPaid = (status: number) => status === 400 || notRelayedUnpaid(status);

/** Writes a refusal, or cuts the answer short when its head went out already. */
function fail(res: ServerResponse, e: AppError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(e.status, { "content-type": "application/json", ...e.headers });
  res.end(JSON.stringify({ error: e.code, message: e.message }));
}

export class AppRuns {
  constructor(
    private readonly registry: OrchestratorRegistry,
    private readonly accounts: Accounts,
    private readonly payer: AppPayer | undefined,
  ) {}

  /** Relay one request to the first target that takes it. Writes the answer or an error to `res`. */
  run(r: RunRequest, res: ServerResponse): Promise<void> {
    if (r.targets.length === 0) {
      fail(res, new AppError(503, "no_capacity", r.noTargetReason, { "retry-after": "2" }));
      return Promise.resolve();
    }
    // A key without a cap has nothing to check (as batch AI: server/ai/index.ts); the usage record
    // bills it. A capped key's run holds its charge until its (tallied) record is committed.
    if (r.key.dailyCapMicros === null && r.key.monthlyCapMicros === null) return this.tryTargets(r, res);
    return this.runCapped(r, res);
  }

  private async runCapped(r: RunRequest, res: ServerResponse): Promise<void> {
    const projected = this.accounts.priceBook.charge({ pipeline: r.pipeline, units: 1, orchestratorCostWei: r.targets[0]!.costWei });
    const spend = await this.accounts.checkSpend(r.key, projected, { reserve: true });
    if (!spend.ok) return fail(res, new AppError(402, "spend_cap_reached", spend.message));
    const hold: Hold = { release: spend.release };
    try {
      await this.tryTargets(r, res, hold);
    } finally {
      hold.release?.(); // not handed over: the run was not billed
    }
  }

  /** Tries the targets in turn. A run that is billed takes `hold`'s spend reservation along to its usage record. */
  private async tryTargets(r: RunRequest, res: ServerResponse, hold?: Hold): Promise<void> {
    const reasons: string[] = [];
    let allBusy = true;
    // Tickets sent on tries that did not answer: carried into the billed run's record.
    let paidBefore = 0n;
    const attempts = Math.min(r.targets.length, MAX_RUN_ATTEMPTS);
    for (let i = 0; i < attempts; i++) {
      const t = r.targets[i]!;
      const t0 = performance.now();
      const a = t.attempt ? await t.attempt(r, res) : await this.challengeAttempt(r, t, res);
      if (a.refused !== undefined) {
        paidBefore += a.paidWei ?? 0n;
        reasons.push(`${t.orchestrator}: ${a.refused}`);
        allBusy = false;
        if (res.destroyed) return;
        if (a.final) break;
        continue;
      }
      const out = a.out;
      // Billed once the answer went out: what the client saw is what is billed. A client that left
      // while its request was worked on is billed too: the work was done and paid for. Nobody waits
      // for the record: runs close together share one (server/accounts/usage-tally.ts).
      if (out.answered || (res.destroyed && a.sent)) {
        // A run's latency is the runner's answer time; a BYOC job's is its whole compute, not the orchestrator's.
        if (out.answered && out.status < 500 && !t.attempt) this.registry.reportSuccess(t.orchestrator, performance.now() - t0);
        this.accounts.tallyRun({ keyId: r.key.id, pipeline: r.pipeline, model: r.model, orchestrator: t.orchestrator, orchestratorCostWei: a.costWei ?? t.costWei, paidWei: paidBefore + a.paidWei }, hold?.release);
        if (hold) hold.release = undefined;
        return;
      }
      paidBefore += a.paidWei;
      if (res.destroyed) return; // the client went away and no work was certainly asked for: no verdict on the runner
      if (out.status === 503) {
        this.registry.reportBusy(t.orchestrator);
        reasons.push(`${t.orchestrator}: busy`);
      } else {
        allBusy = false;
        reasons.push(`${t.orchestrator}: ${out.status ? `answered ${out.status}` : "unreachable"}${out.error ? ` (${out.error.slice(0, 120)})` : ""}`);
        if (out.status === 0) this.registry.reportFailure(t.orchestrator, "network");
      }
      if (!t.attempt) void this.registry.refreshApps(t.orchestrator);
    }
    fail(
      res,
      allBusy
        ? new AppError(503, "busy", `every runner is busy: ${reasons.join("; ")}`, { "retry-after": "1" })
        : new AppError(502, "runner_failed", `no runner answered: ${reasons.join("; ")}`, { "retry-after": "1" }),
    );
  }

  /**
   * A Live Runner single-shot try: unpaid first; a 402 names fresh ticket parameters for this
   * request, paid once with them. The client gone is an unanswered outcome.
   */
  private async challengeAttempt(r: RunRequest, t: RunTarget, res: ServerResponse): Promise<RunAttempt> {
    let paidWei = 0n;
    let out: ProxyOutcome = { status: 0, answered: false, bytesOut: 0, error: "client went away" };
    // Each request pays with the ticket parameters of its own 402 challenge. A quote shared by
    // requests would not do: every stateless signer call numbers its tickets from nonce 1, and an
    // orchestrator refuses a nonce it has seen for the same parameters (concurrent runs failed).
    let quote: { info: OrchestratorInfo; manifestId: string } | undefined;
    let sent = false;
    for (let round = 0; round < 2; round++) {
      if (res.destroyed) return { out, paidWei, sent: false }; // the client went away (while a payment was signed, say)
      let pay: Record<string, string> | undefined;
      if (quote && this.payer) {
        try {
          // The challenge's manifest id: go-livepeer refuses a payment whose manifest is not the
          // auth token's session (403 "mismatched manifest and auth token").
          const p = await payOnce(this.payer, quote.info, quote.manifestId);
          pay = p.headers;
          paidWei = p.paidWei;
        } catch (err) {
          return { refused: `payment: ${(err as Error).message}` };
        }
      }
      const payerAddress = this.payer?.address();
      const paid = pay !== undefined && Object.keys(pay).length > 0;
      // Work that was certainly asked for: a paid try, or any try when Wharf pays no one (an unpaid
      // first try to a paying orchestrator only fetches its 402 challenge).
      sent = paid || !this.payer;
      out = await relayBuffered(orchestratorDispatcher(), r.method, r.headers, r.body, res, {
        url: t.url,
        headers: payerAddress || paid || t.headers ? { authorization: undefined, ...(payerAddress ? { [PAYER_ADDRESS_HEADER]: payerAddress } : {}), ...pay, ...t.headers } : DROP_AUTHORIZATION,
        headTimeoutMs: r.headTimeoutMs ?? RUN_HEAD_TIMEOUT_MS,
        notRelayed: paid ? notRelayedPaid : notRelayedUnpaid,
      });
      if (out.answered || out.status !== 402 || !this.payer || quote) break;
      // 402: the challenge names fresh parameters for this request; pay with them once.
      try {
        const c = challengeOf(out.status, out.error ?? "");
        quote = { info: decodeBase64("OrchestratorInfo", c.payment_params), manifestId: c.manifest_id };
      } catch (err) {
        return { refused: (err as Error).message };
      }
    }
    return { out, paidWei, sent };
  }
}
