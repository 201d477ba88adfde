// BYOC jobs sent on to orchestrators as go-livepeer's gateway sends them (protocol/apps/byoc.ts):
// every orchestrator that may host the capability is asked for a job token at once; those with
// free capacity are tried cheapest first, each with the job signed for Wharf's sender and, when
// the orchestrator's balance for Wharf holds less than two minutes of its price, tickets that
// bring it back there. The orchestrator's balance in each token is the truth: what a job cost is
// debited there, so Wharf keeps no balance of its own and pays what was used, no more.
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { request } from "undici";
import {
  encodeJobSender,
  encodeSignedJob,
  JOB_BALANCE_ERROR,
  JOB_CAPABILITY_HEADER,
  JOB_CREDS_ERROR,
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
import { decodeBase64, type OrchestratorInfo } from "../../protocol/messages.ts";
import { PaymentRefusal, ticketEvOf } from "../../protocol/payments/balance-session.ts";
import { Rational } from "../../protocol/payments/rational.ts";
import { SEGMENT_HEADER } from "../../protocol/segment-header.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import type { AppPayer } from "./payments.ts";
import type { RunAttempt, RunRequest, RunTarget } from "./runs.ts";

/** go's gateway waits a second for the tokens (jobOrchSearchTimeoutDefault). */
const TOKEN_TIMEOUT_MS = 1000;
const MAX_TOKEN_BYTES = 64 * 1024;
/** Orchestrators asked for a token per job, at most (a random pick of the usable ones beyond). */
const MAX_TOKEN_FANOUT = 32;
/** An orchestrator without BYOC (404/405 to a token request) is not asked again this long. */
const NO_BYOC_TTL_MS = 30_000;
/** One without free capacity for a capability (go answers an unknown one the same way) this long. */
const NO_CAPACITY_TTL_MS = 3000;
const MAX_NOT_OFFERED = 10_000;
/** A token older than this is asked for again before its job goes out (its ticket parameters may have expired). */
const TOKEN_FRESH_MS = 5000;
/** Balance kept at the orchestrator, in seconds of its price (go's gateway keeps 120; the orchestrator requires 60). */
export const KEEP_BALANCE_SECONDS = 120;
/** The signer makes at most 100 tickets in one payment. */
const MAX_TICKETS = 100;
/** The signer refreshes a session whose auth token has under 180 s left; a BYOC job has none, so it gets one for this long. */
const JOB_AUTH_TOKEN_SECONDS = 3600;
const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";
/** go's orchestrator's own 400s (the job was not run): another orchestrator may take it. */
const NOT_RUN_400 = [JOB_CREDS_ERROR, JOB_BALANCE_ERROR, JOB_PAYMENT_ERROR, JOB_TIMEOUT_ERROR, "Could not get job price"];
/** go's orchestrator's own 500 (the container could not be reached; go's gateway tries the next one). */
const NOT_RUN_500 = "job not able to be processed";
const notRelayed = (status: number) => status === 400 || status === 402 || status === 500 || status === 502 || status === 503;

export interface ByocTargets {
  targets: RunTarget[];
  /** Why none, when `targets` is empty. */
  reason: string;
}

export class ByocJobs {
  private readonly notOffered = new Map<string, number>();

  constructor(
    private readonly registry: OrchestratorRegistry,
    private readonly payer: AppPayer | undefined,
  ) {}

  /** The orchestrators that will take `job` now, cheapest first, each with how to try it. */
  async targets(job: ByocJob, path: string): Promise<ByocTargets> {
    const include = job.parameters.orchestrators?.include ?? [];
    const exclude = job.parameters.orchestrators?.exclude ?? [];
    const now = Date.now();
    let candidates = this.registry.usable().filter((a) => (include.length === 0 || include.includes(a)) && !exclude.includes(a) && (this.notOffered.get(`${a}\n${job.capability}`) ?? 0) <= now);
    if (candidates.length > MAX_TOKEN_FANOUT) candidates = shuffled(candidates).slice(0, MAX_TOKEN_FANOUT);
    const sender = this.payer ? this.payer.jobSender?.() : { addr: ZERO_ADDRESS, sig: "" };
    // An on-chain orchestrator refuses a sender without its signature: wait for the signer, not a refusal.
    if (!sender) return { targets: [], reason: "the remote signer has not told Wharf its address yet" };
    // One signature for the job, asked while the tokens are.
    const [sig, ...tokens] = await Promise.all([
      this.signJob(job),
      ...candidates.map((a) => this.token(a, job.capability, sender).then((t) => t && { address: a, token: t, at: Date.now() })),
    ]);
    const reasons: string[] = [];
    const usable: Array<{ address: string; token: JobToken; at: number; price: Rational }> = [];
    for (const x of tokens) {
      if (!x || typeof x === "string") continue;
      const price = x.token.price && x.token.price.pricePerUnit > 0 ? Rational.of(x.token.price.pricePerUnit, x.token.price.pixelsPerUnit) : Rational.ZERO;
      if (x.token.availableCapacity <= 0) {
        reasons.push(`${x.address}: no free capacity`);
        this.remember(x.address, job.capability, NO_CAPACITY_TTL_MS);
      } else if (x.token.ticketParams && sig === undefined) {
        // It is on-chain (it asks for tickets): it verifies the job's signature, which this signer does not make.
        reasons.push(`${x.address}: an on-chain orchestrator takes signed jobs only, and the remote signer signs none (go-livepeer's has no such call)`);
      } else if (price.sign() > 0 && (!this.payer || !x.token.ticketParams)) {
        reasons.push(`${x.address}: charges ${price.toFixed(0)} wei/s and ${this.payer ? "sent no ticket parameters" : "Wharf has no signer to pay with"}`);
      } else usable.push({ ...x, price });
    }
    usable.sort((a, b) => a.price.cmp(b.price));
    const targets = usable.map((u): RunTarget => {
      const url = new URL(`${u.address}/process/request/${path}`);
      return { orchestrator: u.address, url, costWei: u.price.ceil(), attempt: (r, res) => this.attempt(r, res, job, sig ?? "", url, u, sender) };
    });
    const why = reasons.length > 0 ? ` (${reasons.join("; ")})` : "";
    return { targets, reason: `no orchestrator offers BYOC capability ${job.capability} with free capacity${why}` };
  }

  /** The job's signature from the signer; undefined when it signs no jobs (then the job goes unsigned). */
  private async signJob(job: ByocJob): Promise<string | undefined> {
    if (!this.payer?.signJob) return undefined;
    try {
      return await this.payer.signJob(job.request, job.parametersText);
    } catch {
      return undefined; // unreachable now: off-chain orchestrators take the job unsigned, on-chain ones are skipped
    }
  }

  private remember(address: string, capability: string, ms: number): void {
    if (this.notOffered.size >= MAX_NOT_OFFERED) this.notOffered.clear();
    this.notOffered.set(`${address}\n${capability}`, Date.now() + ms);
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
      // No BYOC at all. (go answers an unknown capability 200, with no capacity.)
      if (res.statusCode === 404 || res.statusCode === 405) this.remember(address, capability, NO_BYOC_TTL_MS);
      if (res.statusCode !== 200) return undefined;
      return parseJobToken(JSON.parse(body.toString("utf8")));
    } catch {
      return undefined; // unreachable, slow or garbled: not a target this time
    }
  }

  private async attempt(r: RunRequest, res: ServerResponse, job: ByocJob, sig: string, url: URL, target: { address: string; token: JobToken; at: number; price: Rational }, sender: JobSender): Promise<RunAttempt> {
    let { token } = target;
    const { address, price } = target;
    // The tries before this one may have taken long (each may wait timeout_seconds): fresh parameters.
    if (Date.now() - target.at > TOKEN_FRESH_MS) {
      const fresh = await this.token(address, job.capability, sender);
      if (!fresh || fresh.availableCapacity <= 0) return { refused: "no free capacity any more" };
      token = fresh;
    }
    let pay: { headers: Record<string, string>; paidWei: bigint } = { headers: {}, paidWei: 0n };
    if (price.sign() > 0) {
      try {
        pay = await this.pay(address, token, price, job.capability);
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
    const out = await relayBuffered(orchestratorDispatcher(), "POST", r.headers, r.body, res, {
      url,
      headers: { authorization: undefined, livepeer: header, [JOB_PAYMENT_HEADER]: pay.headers[JOB_PAYMENT_HEADER], [SEGMENT_HEADER]: undefined },
      headTimeoutMs: r.headTimeoutMs,
      notRelayed,
    });
    // go's orchestrator debits whole seconds of compute, the container's errors included.
    const costWei = () => price.mul(Rational.of(BigInt(Math.max(1, Math.ceil((performance.now() - t0) / 1000))))).ceil();
    if (out.answered) return { out, paidWei: pay.paidWei, costWei: costWei() };
    const text = out.error ?? "";
    if (out.status === 0 && pay.paidWei > 0n && !res.destroyed) {
      // go's orchestrator drops the connection when it refuses the tickets (its balance check reads a
      // nil balance): a refused payment, not a network fault of the orchestrator.
      return { refused: `the orchestrator closed the connection on the paid job (go-livepeer does so when it refuses the tickets): ${text.slice(0, 120)}` };
    }
    const notRun = (out.status === 400 && NOT_RUN_400.some((m) => text.startsWith(m))) || (out.status === 500 && text.startsWith(NOT_RUN_500));
    if ((out.status === 400 || out.status === 500) && !notRun && !res.headersSent && !res.destroyed) {
      // The container's own error, which go's orchestrator passes on as plain text: the client's answer.
      res.writeHead(out.status, { "content-type": "text/plain; charset=utf-8" });
      res.end(text);
      return { out: { ...out, answered: true }, paidWei: pay.paidWei, costWei: costWei() };
    }
    return { out, paidWei: pay.paidWei };
  }

  /** Tickets that bring the balance at the orchestrator to KEEP_BALANCE_SECONDS of its price; none while it holds that. */
  private async pay(address: string, token: JobToken, price: Rational, capability: string): Promise<{ headers: Record<string, string>; paidWei: bigint }> {
    const keep = price.mul(Rational.of(KEEP_BALANCE_SECONDS));
    const balance = Rational.of(token.balance);
    if (balance.cmp(keep) >= 0) return { headers: {}, paidWei: 0n };
    const info: OrchestratorInfo = {
      transcoder: address,
      ticketParams: token.ticketParams,
      priceInfo: token.price,
      address: token.ticketParams?.recipient,
      authToken: { token: new Uint8Array(randomBytes(16)), sessionId: capability, expiration: Math.floor(Date.now() / 1000) + JOB_AUTH_TOKEN_SECONDS },
    };
    const ev = ticketEvOf(info);
    let seconds = keep.sub(balance).div(price).ceil();
    // More than the signer makes at once is bought over the next jobs.
    if (ev.sign() > 0) seconds = bigMin(seconds, Rational.of(MAX_TICKETS).mul(ev).div(price).floor());
    if (seconds <= 0n) seconds = 1n;
    const res = await this.payer!.signer.generateLivePayment({ orchestrator: info, type: "", inPixels: Number(seconds), manifestId: capability });
    switch (res.kind) {
      case "Paid": {
        const n = decodeBase64("Payment", res.payment).ticketSenderParams?.length ?? 0;
        return { headers: { [JOB_PAYMENT_HEADER]: res.payment }, paidWei: ev.mul(Rational.of(BigInt(n))).ceil() };
      }
      case "NoTicketsNeeded":
        return { headers: {}, paidWei: 0n };
      case "RefreshSession":
        throw new PaymentRefusal("refresh-exhausted", `the signer wants fresh payment parameters: ${res.message}`);
      case "PriceTooHigh":
        throw new PaymentRefusal("price-too-high", res.message || "orchestrator price above the ceiling");
    }
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
