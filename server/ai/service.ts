// Batch AI execution: pick an orchestrator for (pipeline, model), call it with the
// Livepeer headers, classify the answer, retry on the next one, re-host results,
// meter usage. HTTP-agnostic (server/ai/routes.ts is the fastify side).
//
// Error taxonomy per attempt:
//   200                                   success (a malformed body counts as an orchestrator failure)
//   503                                   busy: next orchestrator, no penalty
//   400 (not about payment), 413/415/422  the user's fault: returned to the user as is
//   401/402/403/404, other 4xx, 5xx,
//   network errors, timeouts              next orchestrator, with a penalty
// At most `retryBudget` orchestrators are tried, each bounded by `timeoutMs`; when
// none could serve, a 503 (with Retry-After) says why. When some were only busy, the
// request waits in the admission queue (admission-queue.ts) for a slot and is tried again,
// until the queue's timeout; a request arriving while others of its pipeline and model
// wait queues behind them instead of overtaking.
//
// Results: data URIs are decoded and stored before the answer. Result URLs on the
// orchestrator are checked (scheme, host) before the answer, which already carries
// Wharf's URLs; the bytes are copied right after the usage record, off the request's
// path (a GET of a Wharf URL waits for its copy). A copy is tried 3 times; if it still
// fails, the orchestrator is penalised, the result answers 502 and the request is
// refunded (billing.refund).
import type { Dispatcher, FormData } from "undici";
import { v7 as uuidv7 } from "uuid";
import { ExchangeBudgetError, ByteBudget, exchange, type Exchange } from "../../protocol/http-exchange.ts";
import { orchestratorDispatcher } from "../../protocol/http-agent.ts";
import { aiRequestHeaders, PAYMENT_HEADER } from "../../protocol/segment-header.ts";
import { moduleLogger } from "../../core/log.ts";
import { RandomPool } from "../random-pool.ts";
import type { Cancellation } from "./cancellation.ts";
import { QueueRefusal, type AdmissionQueue } from "./admission-queue.ts";
import type { AiCandidate, AiOrchestratorSource, AiPaymentTicket, AiPayments, NoCandidateReason } from "./orchestrators.ts";
import { PaymentRefusal } from "../../protocol/payments/balance-session.ts";
import type { ResultStore } from "./results.ts";
import { OrchestratorFault, ResultRehosting, type PendingCopy } from "./result-rehosting.ts";
import { encodeForm, endingWith, parseJson, sdkErrorBody } from "./upstream-body.ts";
import { feeWei, usedUnits, type PipelineSpec } from "../../protocol/ai/spec.ts";
import { StreamedUsage } from "./stream-usage.ts";

const log = moduleLogger("ai");

/** An HTTP answer for the client, in the SDK's shape. */
export class AiHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body === "object" && body && "detail" in body ? JSON.stringify((body as { detail: unknown }).detail) : String(body));
    this.name = "AiHttpError";
  }
  static msg(status: number, msg: string, headers: Record<string, string> = {}): AiHttpError {
    return new AiHttpError(status, { detail: { msg } }, headers);
  }
}

/** The orchestrator misbehaved after answering 200 (bad body, result not fetchable): penalise and retry. */
export { OrchestratorFault };

export interface AiUsage {
  keyId: string;
  pipeline: string;
  model: string;
  units: number;
  orchestrator: string;
  orchestratorCostWei: bigint;
  /** EV of the tickets sent for this request, wei. */
  paidWei: bigint;
  requestId: string;
}

export type ReserveResult = { ok: true; release: () => void } | { ok: false; status: number; message: string; headers?: Record<string, string> };

export interface AiBilling {
  /** Spend-cap check with a reservation, before dispatch (optional). */
  reserve?(key: AiJob["key"], pipeline: string, units: number, projectedCostWei: bigint): Promise<ReserveResult>;
  /** Durable when the promise resolves: called before the response is sent. */
  record(u: AiUsage): Promise<void>;
  /** The request's result could not be delivered after all: cancel its charge (optional). */
  refund?(requestId: string, reason: string): Promise<void>;
  /** A streamed answer ended having used other units than recorded: bring the request's charge to them (optional). */
  settle?(requestId: string, final: { units: number; orchestratorCostWei: bigint }): Promise<void>;
}

export interface AiServiceOptions {
  source: AiOrchestratorSource;
  results: ResultStore;
  billing: AiBilling;
  /** Public base URL of Wharf (results are served under it). */
  publicUrl: () => string;
  retryBudget: number;
  /** Per-attempt timeout. */
  timeoutMs: number;
  dispatcher?: Dispatcher;
  /** Accept result URLs on other hosts than the orchestrator's (default false: SSRF guard). */
  allowForeignResultUrls?: boolean;
  /** Pays orchestrators that want tickets; without it only free orchestrators can serve. */
  payments?: AiPayments;
  /** Where requests wait when every candidate is at capacity; without it they get 503 at once. */
  queue?: AdmissionQueue;
  /**
   * The bytes of every orchestrator answer being read or parsed, together (config aiAnswerMemoryMb):
   * past it a request gets 503 (the gateway's memory, not the orchestrator's fault). Their text and
   * parsed JSON take about as much again each, so the memory it bounds is about three times this.
   */
  answerMemoryBytes: number;
}

export interface AiJob {
  /**
   * The HTTP request's id (a UUIDv7, server/api/app.ts): every log line of the request, the
   * orchestrator call (x-request-id) and the usage record carry it. Made here when absent.
   */
  requestId?: string;
  spec: PipelineSpec;
  model: string;
  /** Billing units projected from the request (protocol/ai/spec.ts billingUnits): reserved, paid to the orchestrator. */
  units: number;
  /**
   * Set for pipelines billed by what the answer used (llm): the most it can be billed
   * (unitCeiling). The usage record then takes the answer's own count (usedUnits).
   */
  unitCeiling?: number;
  keyId: string;
  /** The caller's key limits (spend caps), when known. */
  key?: { id: string; dailyCapMicros: number | null; monthlyCapMicros: number | null };
  /** Body for one attempt (called per attempt: bodies are single-use). */
  body: () => { body: string | FormData; contentType?: string };
  /** Relay an SSE answer instead of reading it (llm with stream=true). */
  stream?: boolean;
  /** Cancelled when the client goes away. */
  cancel?: Cancellation;
}

export type AiOutcome =
  | { kind: "json"; body: Record<string, unknown>; candidate: AiCandidate; requestId: string; costWei: bigint }
  | { kind: "stream"; body: AsyncIterable<Uint8Array>; abort: () => void; candidate: AiCandidate; requestId: string; costWei: bigint };

type AttemptOutcome = AiOutcome extends infer O ? (O extends AiOutcome ? Omit<O, "requestId" | "costWei"> : never) : never;

const RETRY_AFTER: Record<NoCandidateReason | "busy" | "failed", string> = {
  "no-orchestrators": "10",
  "no-capability": "60",
  "no-model": "60",
  "over-price": "60",
  exhausted: "5",
  busy: "2",
  failed: "5",
};

/** The admission queue's lane of a request: capacity is per model runner. */
const laneOf = (spec: PipelineSpec, model: string) => `${spec.pipeline}\n${model}`;

/** Orchestrators' answers quoted in a 503 (a request waiting in the queue may try many times). */
const MAX_PROBLEMS = 16;

const PAYMENT_WORDS = /balance|payment|ticket|credential|auth ?token|capped|price/i;

/**
 * An orchestrator's JSON answer is read into memory whole (its results may be inline data URLs);
 * one answer up to this size (or the whole budget, if that is smaller). V8 cannot make a string
 * of 512 MiB to parse anyway.
 */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;

export class AiService {
  private readonly dispatcher: Dispatcher;
  private readonly random = new RandomPool();
  private readonly rehosting: ResultRehosting;
  private readonly answers: ByteBudget;
  constructor(private readonly opts: AiServiceOptions) {
    this.dispatcher = opts.dispatcher ?? orchestratorDispatcher();
    this.answers = new ByteBudget(opts.answerMemoryBytes);
    this.rehosting = new ResultRehosting({
      publicUrl: opts.publicUrl,
      results: opts.results,
      allowForeignResultUrls: opts.allowForeignResultUrls,
      dispatcher: this.dispatcher,
      timeoutMs: opts.timeoutMs,
      refund: opts.billing.refund ? (id, reason) => opts.billing.refund!(id, reason) : undefined,
      reportFailure: (address, reason, requestId) => opts.source.reportFailure(address, reason, requestId),
    });
  }

  async run(job: AiJob): Promise<AiOutcome> {
    const { spec, model } = job;
    // Time-ordered (UUIDv7): usage records are indexed by request id, and ids that grow
    // append to that index instead of touching a random page of it on every commit.
    const requestId = job.requestId ?? uuidv7({ rng: () => this.random.take(16) });
    const queue = this.opts.queue;
    // With nobody waiting this costs one field read: no lane string, no timer.
    let lane: string | undefined;
    let waitingSince: number | undefined;
    if (queue && queue.length > 0 && queue.has((lane = laneOf(spec, model)))) {
      waitingSince = Date.now();
      await this.waitForSlot(queue, lane, job, waitingSince, false);
    }
    const tried = new Set<string>();
    const problems: string[] = [];
    let busy = 0;
    let failed = 0;
    let reservation: { release: () => void } | undefined;
    try {
      // Rounds: every candidate once; another round after a wait in the queue when some were busy.
      for (;;) {
        let busyNow = 0;
        for (let attempt = 0; attempt < this.opts.retryBudget; attempt++) {
          if (job.cancel?.cancelled) throw AiHttpError.msg(499, "client closed the request");
          const sel = await this.opts.source.select({ pipeline: spec.pipeline, capability: spec.capability, modelId: model, exclude: tried });
          if (!sel.ok) {
            if (attempt === 0) throw AiHttpError.msg(503, sel.message, { "retry-after": RETRY_AFTER[sel.reason] });
            break;
          }
          const cand = sel.candidates[0]!;
          tried.add(cand.address);
          log.debug({ requestId, pipeline: spec.pipeline, model, orchestrator: cand.address, attempt }, "orchestrator selected");
          const costWei = feeWei(job.units, cand.price.pricePerUnit, cand.price.pixelsPerUnit);
          if (!reservation && this.opts.billing.reserve) {
            const r = await this.opts.billing.reserve(job.key, spec.pipeline, job.units, costWei);
            if (!r.ok) throw AiHttpError.msg(r.status, r.message, r.headers);
            reservation = r;
          }
          const copies: PendingCopy[] = [];
          const res = await this.attempt(job, cand, requestId, copies);
          // The orchestrator's slot is free again (an event stream's once the stream ends): a waiting request's turn.
          const slotFree = res.kind === "failed" || (res.kind === "ok" && res.outcome.kind === "json");
          if (slotFree && queue && queue.length > 0) queue.release((lane ??= laneOf(spec, model)));
          if (res.kind === "ok") {
            const outcome = { ...res.outcome, requestId, costWei } as AiOutcome;
            const usage: AiUsage = {
              keyId: job.keyId, pipeline: spec.pipeline, model, units: job.units,
              orchestrator: cand.address, orchestratorCostWei: costWei, paidWei: res.paidWei, requestId,
            };
            // Billed by what the answer used (llm): a JSON answer says it now; an event stream is
            // recorded at the projection before its first byte and settled when it ends. The
            // tickets (paidWei) were paid from the projection before the call and stay as they are.
            const price = cand.price;
            if (outcome.kind === "json" && job.unitCeiling !== undefined) {
              const used = usedUnits(outcome.body, job.unitCeiling);
              if (used !== undefined) {
                usage.units = used;
                usage.orchestratorCostWei = outcome.costWei = feeWei(used, price.pricePerUnit, price.pixelsPerUnit);
              }
            }
            if (outcome.kind === "stream") {
              const streamed = job.unitCeiling !== undefined ? new StreamedUsage(job.unitCeiling) : undefined;
              const streamLane = queue ? (lane ??= laneOf(spec, model)) : undefined;
              if (streamed || streamLane !== undefined) {
                outcome.body = endingWith(outcome.body, streamed, () => {
                  if (streamLane !== undefined) queue!.release(streamLane);
                  if (streamed && streamed.units !== usage.units) this.settle(usage, streamed.units, price);
                });
              }
            }
            // Metered before anything reaches the client (durable when record resolves).
            try {
              await this.opts.billing.record(usage);
            } catch (err) {
              if (outcome.kind === "stream") outcome.abort();
              for (const c of copies) c.reserved.abandon();
              log.error({ requestId, err: (err as Error).message }, "recording AI usage failed");
              throw AiHttpError.msg(500, "usage could not be recorded; the result is withheld and nothing was billed");
            }
            log.debug({ requestId, orchestrator: cand.address, costWei: String(costWei) }, "usage recorded");
            if (copies.length) this.rehosting.deliver(copies, cand, requestId);
            return outcome;
          }
          for (const c of copies) c.reserved.abandon();
          if (res.kind === "busy") {
            busy++;
            busyNow++;
          } else failed++;
          if (problems.length < MAX_PROBLEMS) problems.push(`${cand.address}: ${res.reason}`);
        }
        // Some were only busy: wait for a slot, then try them all again.
        if (!queue || busyNow === 0) break;
        waitingSince ??= Date.now();
        await this.waitForSlot(queue, (lane ??= laneOf(spec, model)), job, waitingSince, true);
        tried.clear();
      }
    } finally {
      reservation?.release();
    }
    const n = tried.size;
    const why =
      failed === 0
        ? `all ${n} orchestrator(s) tried for ${spec.pipeline} "${model}" are at capacity`
        : `no orchestrator could serve ${spec.pipeline} "${model}": ${n} tried (${busy} busy, ${failed} failed)`;
    throw AiHttpError.msg(503, `${why}: ${problems.join("; ")}`.slice(0, 2000), { "retry-after": RETRY_AFTER[failed === 0 ? "busy" : "failed"] });
  }

  /** Brings a streamed answer's usage record to the units it used (after the stream; a failure is logged). */
  private settle(usage: AiUsage, units: number, price: AiCandidate["price"]): void {
    const settle = this.opts.billing.settle;
    if (!settle) return;
    const orchestratorCostWei = feeWei(units, price.pricePerUnit, price.pixelsPerUnit);
    settle.call(this.opts.billing, usage.requestId, { units, orchestratorCostWei }).then(
      () => log.debug({ requestId: usage.requestId, units, recorded: usage.units }, "streamed usage settled"),
      (err: Error) => log.error({ requestId: usage.requestId, units, err: err.message }, "settling a streamed answer's usage failed; it stays billed at the projection"),
    );
  }

  /** Waits in the admission queue; its refusals as the client's answer (503 with Retry-After, 499). */
  private async waitForSlot(queue: AdmissionQueue, lane: string, job: AiJob, since: number, rejoin: boolean): Promise<void> {
    try {
      await queue.wait(lane, job.keyId, since, job.cancel, rejoin);
    } catch (err) {
      if (!(err instanceof QueueRefusal)) throw err;
      if (err.reason === "cancelled") throw AiHttpError.msg(499, "client closed the request");
      throw AiHttpError.msg(503, `every orchestrator for ${job.spec.pipeline} "${job.model}" is at capacity and ${err.message}`, {
        "retry-after": String(Math.max(1, Math.ceil(queue.timeoutMs / 1000))),
      });
    }
  }

  private async attempt(
    job: AiJob,
    cand: AiCandidate,
    requestId: string,
    copies: PendingCopy[],
  ): Promise<{ kind: "ok"; outcome: AttemptOutcome; paidWei: bigint } | { kind: "busy" | "failed"; reason: string }> {
    const { spec } = job;
    if (cand.paid && !this.opts.payments) {
      return { kind: "failed", reason: "requires payment and this gateway pays no one (set remoteSignerUrl)" };
    }
    let ticket: AiPaymentTicket | undefined;
    if (cand.paid && this.opts.payments) {
      try {
        ticket = await this.opts.payments.pay(cand, spec.capability, job.model, job.units);
      } catch (err) {
        if (!(err instanceof PaymentRefusal)) throw err;
        // No unpaid work is sent: a signer that cannot pay fails the request, a price the
        // signer refuses (481) or endless refreshes (480) skip this orchestrator.
        if (err.kind === "signer") throw AiHttpError.msg(503, `payment unavailable: ${err.message}`, { "retry-after": "5" });
        return { kind: "failed", reason: `payment refused: ${err.message}` };
      }
    }
    const settle = (outcome: "done" | "not-done") => ticket?.settle(outcome);
    const paidWei = ticket?.evWei ?? 0n;
    const src = this.opts.source;
    const t0 = performance.now();
    let ex: Exchange | undefined;
    let failure: string | undefined;
    const fail = (reason: string) => {
      failure ??= reason;
      ex?.abort(new Error(reason));
    };
    const timer = setTimeout(() => fail(`timed out after ${this.opts.timeoutMs} ms`), this.opts.timeoutMs);
    const offCancel = job.cancel?.onCancel(fail);
    let keepOpen = false;
    try {
      const b = job.body();
      const { body, contentType } = typeof b.body === "string" ? (b as { body: string; contentType?: string }) : await encodeForm(b.body);
      const target = this.rehosting.target(cand.serviceUrl);
      const headers: Record<string, string> = { ...aiRequestHeaders(spec.capability, job.model, ticket?.authToken ?? cand.authToken), "x-request-id": requestId };
      if (ticket?.payment) headers[PAYMENT_HEADER] = ticket.payment;
      if (contentType) headers["content-type"] = contentType;
      if (failure) throw new Error(failure);
      ex = exchange(this.dispatcher, {
        origin: target.origin,
        path: `${target.basePath}/${spec.pipeline}`,
        method: "POST",
        headers,
        body,
        timeoutMs: this.opts.timeoutMs,
        maxBytes: Math.min(MAX_ANSWER_BYTES, this.answers.limit),
        budget: this.answers,
        streamIf: job.stream ? (status, h) => status === 200 && String(h["content-type"] ?? "").startsWith("text/event-stream") : undefined,
      });
      const res = await ex.response;
      const status = res.status;
      log.debug({ requestId, orchestrator: cand.address, status, ms: Math.round(performance.now() - t0) }, "orchestrator answered");
      if ("stream" in res) {
        // An event stream (llm with stream=true) may outlast the per-attempt timeout; undici
        // still bounds every gap in it.
        clearTimeout(timer);
        keepOpen = true;
        src.reportSuccess(cand.address, performance.now() - t0);
        settle("done");
        const call = ex;
        return { kind: "ok", paidWei, outcome: { kind: "stream", body: res.stream, abort: () => call.abort(new Error("client closed the request")), candidate: cand } };
      }
      if (status === 200) {
        const json = parseJson(res.body.toString("utf8"));
        if (!json || typeof json !== "object" || Array.isArray(json)) throw new OrchestratorFault(`answered 200 with a body that is not a JSON object`);
        settle("done");
        const out = await this.rehosting.finish(spec, json as Record<string, unknown>, cand, copies);
        src.reportSuccess(cand.address, performance.now() - t0);
        return { kind: "ok", paidWei, outcome: { kind: "json", body: out, candidate: cand } };
      }
      // An error status: go-livepeer's orchestrator debits AI work only after it succeeded.
      settle("not-done");
      const text = res.body.subarray(0, 64 * 1024).toString("utf8");
      if (status === 503) {
        src.reportBusy(cand.address);
        return { kind: "busy", reason: `busy (503 ${text.trim().slice(0, 200)})` };
      }
      const userFault = status === 413 || status === 415 || status === 422 || (status === 400 && !PAYMENT_WORDS.test(text));
      if (userFault) throw new AiHttpError(status, sdkErrorBody(text, status));
      if (status === 401 || status === 402 || status === 403) src.invalidate?.(cand.address);
      const reason = `${status} ${text.trim().slice(0, 300)}`;
      src.reportFailure(cand.address, reason, requestId);
      return { kind: "failed", reason };
    } catch (err) {
      // The call may have reached the orchestrator and been done: count it.
      settle("done");
      if (err instanceof AiHttpError) throw err;
      if (job.cancel?.cancelled) throw AiHttpError.msg(499, "client closed the request");
      if (err instanceof ExchangeBudgetError) {
        log.warn({ requestId, orchestrator: cand.address, inUse: this.answers.inUse, limit: this.answers.limit }, "AI answers in memory at their limit");
        throw AiHttpError.msg(503, `the gateway is holding too many large answers: ${err.message}`, { "retry-after": "2" });
      }
      const reason = failure ?? (err as Error).message;
      src.reportFailure(cand.address, reason, requestId);
      log.info({ requestId, orchestrator: cand.address, pipeline: spec.pipeline, err: reason }, "AI attempt failed");
      return { kind: "failed", reason };
    } finally {
      offCancel?.();
      ex?.release(); // the answer was parsed (and its inline results stored), or is streamed
      if (!keepOpen) clearTimeout(timer);
    }
  }
}
