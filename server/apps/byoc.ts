// BYOC jobs sent on to orchestrators as go-livepeer's gateway sends them (protocol/apps/byoc.ts):
// every orchestrator that may host the capability is asked for a job token at once; those with
// free capacity are tried cheapest first, each with the job signed for Wharf's sender and, when
// the orchestrator's balance for Wharf holds less than two minutes of its price, tickets that
// bring it back there. The orchestrator's balance in each token is the truth: what a job cost is
// debited there, so Wharf keeps no balance of its own and pays what was used, no more.
// go's orchestrator charges for a job once it reached the container, whatever the container
// answered: so once it did, the answer (an error too) is the client's and is billed; only the
// orchestrator's own refusals, before the container, move the job to the next orchestrator.
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { request } from "undici";
import {
  encodeJobSender,
  encodeSignedJob,
  JOB_BALANCE_ERROR,
  JOB_CAPABILITY_HEADER,
  JOB_CAPACITY_ERROR,
  JOB_CREDS_ERROR,
  JOB_MIN_BALANCE_SECONDS,
  JOB_PAYMENT_ERROR,
  JOB_PAYMENT_HEADER,
  JOB_SENDER_HEADER,
  JOB_TIMEOUT_ERROR,
  JOB_TOKEN_PATH,
  parseJobToken,
  type JobSender,
  type JobToken,
} from "../../protocol/apps/byoc.ts";
import type { ByocJob } from "../../protocol/apps/live-runner.ts";
import { readBounded } from "../../protocol/bounded-body.ts";
import { orchestratorDispatcher } from "../../protocol/http-agent.ts";
import { relayBuffered } from "../../protocol/http-relay.ts";
import type { OrchestratorInfo } from "../../protocol/messages.ts";
import { PaymentRefusal, ticketEvOf } from "../../protocol/payments/balance-session.ts";
import { Rational } from "../../protocol/payments/rational.ts";
import { SEGMENT_HEADER } from "../../protocol/segment-header.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import { paymentOf, type AppPayer } from "./payments.ts";
import type { RunAttempt, RunRequest, RunTarget } from "./runs.ts";

/** go's gateway waits a second for the tokens (jobOrchSearchTimeoutDefault). */
const TOKEN_TIMEOUT_MS = 1000;
const MAX_TOKEN_BYTES = 64 * 1024;
/** Orchestrators asked for a token per job, at most (a random pick of the usable ones beyond). */
const MAX_TOKEN_FANOUT = 32;
/** An orchestrator without BYOC (404/405 to a token request) is not asked again this long. */
const NO_BYOC_TTL_MS = 30_000;
const MAX_NO_BYOC = 10_000;
/** A token older than this is asked for again before its job goes out (its ticket parameters may have expired). */
const TOKEN_FRESH_MS = 5000;
/** Balance kept at the orchestrator, in seconds of its price (go's gateway keeps 120; the orchestrator requires 60). */
export const KEEP_BALANCE_SECONDS = 120;
/** The signer makes at most 100 tickets in one payment. */
const MAX_TICKETS = 100;
/** The signer refreshes a session whose auth token has under 180 s left; a BYOC job has none, so it gets one for this long. */
const JOB_AUTH_TOKEN_SECONDS = 3600;
const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";
/** go's orchestrator's own answers (the job did not reach the container): another orchestrator may take it. */
const NOT_RUN: Record<number, readonly string[]> = {
  400: [JOB_CREDS_ERROR, JOB_BALANCE_ERROR, JOB_PAYMENT_ERROR, JOB_TIMEOUT_ERROR, "Could not get job price"],
  503: [JOB_CAPACITY_ERROR],
  // The container could not be reached (go's gateway tries the next orchestrator; go charged the seconds).
  500: ["job not able to be processed"],
};
/** Held back to be read: only these statuses may be the orchestrator's own. */
const notRelayed = (status: number) => NOT_RUN[status] !== undefined;

export interface ByocTargets {
  targets: RunTarget[];
  /** Why none, when `targets` is empty. */
  reason: string;
}

interface Offer {
  address: string;
  token: JobToken;
  /** When the token came. */
  at: number;
}

/** The job's signature, or why there is none (the job then goes unsigned). */
type JobSignature = { sig: string } | { sig?: undefined; why: string };

const priceOf = (t: JobToken): Rational => (t.price && t.price.pricePerUnit > 0 ? Rational.of(t.price.pricePerUnit, t.price.pixelsPerUnit) : Rational.ZERO);

export class ByocJobs {
  /** Orchestrators without BYOC, until when. */
  private readonly noByoc = new Map<string, number>();

  constructor(
    private readonly registry: OrchestratorRegistry,
    private readonly payer: AppPayer | undefined,
  ) {}

  /** The orchestrators that will take `job` now, cheapest first, each with how to try it. */
  async targets(job: ByocJob, path: string): Promise<ByocTargets> {
    const include = job.parameters.orchestrators?.include ?? [];
    const exclude = job.parameters.orchestrators?.exclude ?? [];
    const now = Date.now();
    let candidates = this.registry.usable().filter((a) => (include.length === 0 || include.includes(a)) && !exclude.includes(a) && (this.noByoc.get(a) ?? 0) <= now);
    if (candidates.length > MAX_TOKEN_FANOUT) candidates = shuffled(candidates).slice(0, MAX_TOKEN_FANOUT);
    const sender = this.payer ? this.payer.jobSender?.() : { addr: ZERO_ADDRESS, sig: "" };
    // An on-chain orchestrator refuses a sender without its signature: wait for the signer, not a refusal.
    if (!sender) return { targets: [], reason: "the remote signer has not told Wharf its address yet" };
    // One signature for the job, asked while the tokens are.
    const [signature, offers] = await Promise.all([
      this.signJob(job),
      Promise.all(candidates.map((a) => this.token(a, job.capability, sender).then((t): Offer | undefined => t && { address: a, token: t, at: Date.now() }))),
    ]);
    const reasons: string[] = [];
    const usable: Offer[] = [];
    for (const o of offers) {
      if (!o) continue;
      const refusal = this.unusable(o.token, signature);
      if (refusal) reasons.push(`${o.address}: ${refusal}`);
      else usable.push(o);
    }
    usable.sort((a, b) => priceOf(a.token).cmp(priceOf(b.token)));
    const sig = signature.sig ?? "";
    const targets = usable.map((o): RunTarget => {
      const url = new URL(`${o.address}/process/request/${path}`);
      // Projected at the job's whole timeout (a capped key's hold); billed at what the orchestrator debits.
      return { orchestrator: o.address, url, costWei: priceOf(o.token).mul(Rational.of(job.timeout_seconds)).ceil(), attempt: (r, res) => this.attempt(r, res, job, sig, url, o, sender) };
    });
    const why = reasons.length > 0 ? ` (${reasons.join("; ")})` : "";
    return { targets, reason: `no orchestrator offers BYOC capability ${job.capability} with free capacity${why}` };
  }

  /** Why an orchestrator cannot take the job on this token, or undefined. */
  private unusable(t: JobToken, signature: JobSignature): string | undefined {
    const price = priceOf(t);
    if (t.availableCapacity <= 0) return "no free capacity";
    // On-chain (it asks for tickets), it verifies the job's signature.
    if (t.ticketParams && signature.sig === undefined) return `an on-chain orchestrator takes signed jobs only, and ${signature.why}`;
    if (price.sign() > 0 && (!this.payer || !t.ticketParams)) return `charges ${price.toFixed(0)} wei/s and ${this.payer ? "sent no ticket parameters" : "Wharf has no signer to pay with"}`;
    return undefined;
  }

  private async signJob(job: ByocJob): Promise<JobSignature> {
    if (!this.payer?.signJob) return { why: "Wharf has no signer" };
    try {
      const sig = await this.payer.signJob(job.request, job.parametersText);
      return sig === undefined ? { why: "the remote signer signs none (go-livepeer's has no such call)" } : { sig };
    } catch (err) {
      return { why: `the remote signer could not sign it: ${(err as Error).message.slice(0, 200)}` };
    }
  }

  /** GET /process/token; undefined when the orchestrator does not answer one. */
  private async token(address: string, capability: string, sender: JobSender): Promise<JobToken | undefined> {
    try {
      const res = await request(`${address}${JOB_TOKEN_PATH}`, {
        method: "GET",
        dispatcher: orchestratorDispatcher(),
        headers: { [JOB_SENDER_HEADER]: encodeJobSender(sender), [JOB_CAPABILITY_HEADER]: capability },
        signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
      });
      const body = await readBounded(res.body, MAX_TOKEN_BYTES, `GET ${address}${JOB_TOKEN_PATH}`);
      // No BYOC at all. (go answers a capability it does not host 200, with no capacity.)
      if (res.statusCode === 404 || res.statusCode === 405) this.rememberNoByoc(address);
      if (res.statusCode !== 200) return undefined;
      return parseJobToken(JSON.parse(body.toString("utf8")));
    } catch {
      return undefined; // unreachable, slow or garbled: not a target this time
    }
  }

  private rememberNoByoc(address: string): void {
    const now = Date.now();
    if (this.noByoc.size >= MAX_NO_BYOC) for (const [a, until] of this.noByoc) if (until <= now) this.noByoc.delete(a);
    if (this.noByoc.size < MAX_NO_BYOC) this.noByoc.set(address, now + NO_BYOC_TTL_MS);
  }

  private async attempt(r: RunRequest, res: ServerResponse, job: ByocJob, sig: string, url: URL, offer: Offer, sender: JobSender): Promise<RunAttempt> {
    let { token } = offer;
    // The tries before this one may have taken long (each may wait timeout_seconds): fresh parameters.
    if (Date.now() - offer.at > TOKEN_FRESH_MS) {
      const fresh = await this.token(offer.address, job.capability, sender);
      if (!fresh || fresh.availableCapacity <= 0) return { refused: "no free capacity any more" };
      token = fresh;
    }
    const price = priceOf(token);
    let pay: { payment?: string; paidWei: bigint } = { paidWei: 0n };
    if (price.sign() > 0) {
      if (!token.ticketParams) return { refused: "its fresh token has no ticket parameters" };
      if (res.destroyed) return { refused: "the client went away" };
      try {
        pay = await this.pay(offer.address, token, price, job.capability);
      } catch (err) {
        return { refused: `payment: ${(err as Error).message}` };
      }
    }
    const header = encodeSignedJob({
      id: randomBytes(8).toString("hex"),
      request: job.request,
      parameters: job.parametersText,
      capability: job.capability,
      sender: this.payer?.address() ?? ZERO_ADDRESS,
      sig,
      timeout_seconds: job.timeout_seconds,
    });
    const t0 = performance.now();
    const sent = !res.destroyed;
    const out = await relayBuffered(orchestratorDispatcher(), "POST", r.headers, r.body, res, {
      url,
      headers: { authorization: undefined, livepeer: header, [JOB_PAYMENT_HEADER]: pay.payment, [SEGMENT_HEADER]: undefined },
      headTimeoutMs: r.headTimeoutMs,
      notRelayed,
    });
    // go's orchestrator debits whole seconds of compute once the job reached the container.
    const costWei = price.mul(Rational.of(BigInt(Math.max(1, Math.ceil((performance.now() - t0) / 1000))))).ceil();
    if (out.answered) return { out, paidWei: pay.paidWei, costWei, sent };
    const text = out.error ?? "";
    // No answer within timeout_seconds + 5: the container had the job (go charged for it). Not
    // tried again elsewhere, and no verdict on the orchestrator (one slow container is not a fault).
    if (out.status === 0 && text.startsWith("no answer from")) return { refused: `the job took longer than its timeout_seconds: ${text}`, paidWei: pay.paidWei, final: true };
    if (out.status === 0) {
      // go's orchestrator drops the connection when it refuses the tickets (its balance check reads a
      // nil balance): a refused payment, not a network fault of the orchestrator.
      if (pay.payment && !res.destroyed) return { refused: `the orchestrator closed the connection on the paid job (go-livepeer does so when it refuses the tickets): ${text.slice(0, 120)}`, paidWei: pay.paidWei };
      return { out, paidWei: pay.paidWei, costWei, sent };
    }
    // A job that ran out of its time is not tried again elsewhere: it was charged, and would be again.
    if ((NOT_RUN[out.status] ?? []).some((m) => text.startsWith(m)) && !/deadline exceeded/.test(text)) {
      // go reads the payment only after the job's credentials, timeout and capacity: tickets sent
      // with a refusal of those were not credited.
      const credited = text.startsWith(JOB_BALANCE_ERROR) || out.status === 500;
      return { out, paidWei: credited ? pay.paidWei : 0n, sent: false };
    }
    if (res.headersSent || res.destroyed) return { out, paidWei: pay.paidWei, costWei, sent };
    // The container's own error, which go's orchestrator passes on as plain text: the client's answer.
    res.writeHead(out.status, { "content-type": "text/plain; charset=utf-8" });
    res.end(text);
    return { out: { ...out, answered: true }, paidWei: pay.paidWei, costWei, sent };
  }

  /** Tickets that bring the balance at the orchestrator to KEEP_BALANCE_SECONDS of its price; none while it holds that. */
  private async pay(address: string, token: JobToken, price: Rational, capability: string): Promise<{ payment?: string; paidWei: bigint }> {
    const keep = price.mul(Rational.of(KEEP_BALANCE_SECONDS));
    const balance = Rational.of(token.balance);
    if (balance.cmp(keep) >= 0) return { paidWei: 0n };
    const info: OrchestratorInfo = {
      transcoder: address,
      ticketParams: token.ticketParams,
      priceInfo: token.price,
      address: token.ticketParams?.recipient,
      authToken: { token: new Uint8Array(randomBytes(16)), sessionId: capability, expiration: Math.floor(Date.now() / 1000) + JOB_AUTH_TOKEN_SECONDS },
    };
    const ev = ticketEvOf(info);
    // parseJobToken refused ticket parameters with a zero face value or win probability: ev > 0.
    // More than the signer makes at once is bought over the next jobs, as long as this one's
    // leaves the minute go's orchestrator wants; else the job could only be refused after paying.
    const most = Rational.of(MAX_TICKETS).mul(ev).div(price).floor();
    let seconds = keep.sub(balance).div(price).ceil();
    if (most < seconds && balance.add(price.mul(Rational.of(most))).cmp(price.mul(Rational.of(JOB_MIN_BALANCE_SECONDS))) < 0) {
      throw new PaymentRefusal("price-too-high", `a minute at ${price.toFixed(0)} wei/s takes more than ${MAX_TICKETS} tickets of ${ev.toFixed(0)} wei`);
    }
    seconds = bigMin(seconds, most);
    if (seconds <= 0n) return { paidWei: 0n }; // not even a second fits in the signer's batch, and the balance holds the minute
    return paymentOf(await this.payer!.signer.generateLivePayment({ orchestrator: info, type: "", inPixels: Number(seconds), manifestId: capability }), info);
  }
}

function shuffled<T>(xs: T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function bigMin(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
