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
/** An orchestrator that answered 4xx for a capability is not asked for it again this long. */
const NOT_OFFERED_TTL_MS = 30_000;
const MAX_NOT_OFFERED = 10_000;
/** Balance kept at the orchestrator, in seconds of its price (go's gateway keeps 120; the orchestrator requires 60). */
export const KEEP_BALANCE_SECONDS = 120;
/** The signer makes at most 100 tickets in one payment. */
const MAX_TICKETS = 100;
/** The signer refreshes a session whose auth token has under 180 s left; a BYOC job has none, so it gets one for this long. */
const JOB_AUTH_TOKEN_SECONDS = 3600;
const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";
/** go's orchestrator's 400s that are its own (the job was not run): another orchestrator may take it. */
const NOT_RUN_400 = [JOB_CREDS_ERROR, JOB_BALANCE_ERROR, JOB_PAYMENT_ERROR, JOB_TIMEOUT_ERROR, "Could not get job price", "Unable to unmarshal job request details"];
const notRelayed = (status: number) => status === 400 || status === 402 || status === 502 || status === 503;

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
    const candidates = this.registry
      .usable()
      .filter((a) => (include.length === 0 || include.includes(a)) && !exclude.includes(a) && (this.notOffered.get(`${a}\n${job.capability}`) ?? 0) <= now);
    const sender: JobSender = this.payer?.jobSender?.() ?? { addr: ZERO_ADDRESS, sig: "" };
    const tokens = await Promise.all(candidates.map((a) => this.token(a, job.capability, sender).then((t) => t && { address: a, token: t })));
    const reasons: string[] = [];
    const usable: Array<{ address: string; token: JobToken; price: Rational }> = [];
    for (const x of tokens) {
      if (!x) continue;
      const price = x.token.price && x.token.price.pricePerUnit > 0 ? Rational.of(x.token.price.pricePerUnit, x.token.price.pixelsPerUnit) : Rational.ZERO;
      if (x.token.availableCapacity <= 0) reasons.push(`${x.address}: no free capacity`);
      else if (price.sign() > 0 && (!this.payer || !x.token.ticketParams)) reasons.push(`${x.address}: charges ${price.toFixed(0)} wei/s and ${this.payer ? "sent no ticket parameters" : "Wharf has no signer to pay with"}`);
      else usable.push({ ...x, price });
    }
    usable.sort((a, b) => a.price.cmp(b.price));
    const targets = usable.map(({ address, token, price }): RunTarget => {
      const url = new URL(`${address}/process/request/${path}`);
      return { orchestrator: address, url, costWei: price.ceil(), attempt: (r, res) => this.attempt(r, res, job, url, address, token, price) };
    });
    const busy = reasons.length > 0 ? ` (${reasons.join("; ")})` : "";
    return { targets, reason: `no orchestrator offers BYOC capability ${job.capability} with free capacity${busy}` };
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
      if (res.statusCode >= 400 && res.statusCode < 500) {
        // No such capability (go: 400 "Could not get price"), or no BYOC at all (404).
        if (this.notOffered.size >= MAX_NOT_OFFERED) this.notOffered.clear();
        this.notOffered.set(`${address}\n${capability}`, Date.now() + NOT_OFFERED_TTL_MS);
        return undefined;
      }
      if (res.statusCode !== 200) return undefined;
      return parseJobToken(JSON.parse(body.toString("utf8")));
    } catch {
      return undefined; // unreachable, slow or garbled: not a target this time
    }
  }

  private async attempt(r: RunRequest, res: ServerResponse, job: ByocJob, url: URL, address: string, token: JobToken, price: Rational): Promise<RunAttempt> {
    let sig: string | undefined;
    let pay: { headers: Record<string, string>; paidWei: bigint } = { headers: {}, paidWei: 0n };
    try {
      sig = await this.payer?.signJob?.(job.request, job.parametersText);
      if (price.sign() > 0) pay = await this.pay(address, token, price, job.capability);
    } catch (err) {
      return { refused: `payment: ${(err as Error).message}` };
    }
    const header = encodeSignedJob({
      id: randomBytes(8).toString("hex"),
      request: job.request,
      parameters: job.parametersText,
      capability: job.capability,
      sender: this.payer?.address() ?? ZERO_ADDRESS,
      sig: sig ?? "",
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
    if (out.status === 400 && !NOT_RUN_400.some((m) => (out.error ?? "").startsWith(m)) && !res.headersSent && !res.destroyed) {
      // The container's own 400, which go's orchestrator passes on as plain text: the client's answer.
      res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      res.end(out.error ?? "");
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

function bigMin(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
