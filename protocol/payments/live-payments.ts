// Paying one live-video-to-video session (go-livepeer's lv2v payments through a remote signer):
// the first payment rides on the start request, then every interval the signer bills the time
// since the last payment and the tickets go to `POST {orchestrator}/payment`, whose answer
// (PaymentResult.info) replaces the session's OrchestratorInfo (fresh ticket params).
import { request } from "undici";
import { orchestratorDispatcher } from "../http-agent.ts";
import { decodeBase64, decodeMessage, type OrchestratorInfo } from "../messages.ts";
import { PAYMENT_HEADER, SEGMENT_HEADER } from "../segment-header.ts";
import type { ClientTlsPolicy } from "../tls.ts";
import { MAX_CONSECUTIVE_REFRESHES, PaymentRefusal, ticketEvOf, type TicketSource } from "./balance-session.ts";
import { Rational } from "./rational.ts";
import type { MaxPrice, SignerState } from "./remote-signer-wire.ts";

/** `POST /payment` deadline. */
const PAYMENT_POST_TIMEOUT_MS = 5000;
/** A PaymentResult is an OrchestratorInfo: a few KB. */
const MAX_PAYMENT_RESULT_BYTES = 256 * 1024;

export interface LivePaymentOptions {
  signer: TicketSource;
  /**
   * GetOrchestrator for this session's model (its price_info is the price the tickets are made
   * for): at the start, and again on a 480.
   */
  quote(): Promise<OrchestratorInfo>;
  maxPrice?: MaxPrice;
  tls?: ClientTlsPolicy;
  /**
   * The signer's billing: "lv2v" (default; 720p30 per second, 60 s prepaid), "live" (whole seconds,
   * 10 s prepaid: Live Runner sessions priced per second) or "fixed" (one unit, paid once: no cycles).
   */
  type?: "lv2v" | "live" | "fixed";
  /** Where the tickets of each cycle go (default `{transcoder}/payment`; a Live Runner session's payment_url). */
  paymentUrl?: string;
  /** The manifest id known before the first payment (a Live Runner challenge's manifest_id). */
  manifestId?: string;
}

/** What a start request carries: both headers. */
export interface LiveStartPayment {
  payment: string;
  segCreds: string;
}

export type LiveCycleResult = "paid" | "skipped";

/** The orchestrator's answer to `POST /payment` was not a PaymentResult (404: it has no such session). */
export class PaymentPostError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class LivePaymentSession {
  private info: OrchestratorInfo = {};
  private state: SignerState | undefined;
  private manifestId = "";
  private paidEv = Rational.ZERO;
  /** When the last cycle succeeded (paid or skipped). */
  lastPaidAt = 0;
  cycles = 0;

  constructor(private readonly o: LivePaymentOptions) {
    this.manifestId = o.manifestId ?? "";
  }

  /** EV of every ticket sent so far, wei. */
  get paidWei(): bigint {
    return this.paidEv.ceil();
  }

  /** The session's current OrchestratorInfo (replaced by every PaymentResult). */
  get orchestratorInfo(): OrchestratorInfo {
    return this.info;
  }

  /** The first payment, for `POST /live-video-to-video` (no state yet; the signer prepays 60 s). */
  async first(signal?: AbortSignal): Promise<LiveStartPayment> {
    try {
      this.info = await this.o.quote();
    } catch (err) {
      throw new PaymentRefusal("no-quote", `no price quote for the live session: ${(err as Error).message}`);
    }
    const paid = await this.generate(signal);
    if (!paid) throw new PaymentRefusal("signer", "the remote signer sold no tickets for the first live payment");
    this.lastPaidAt = Date.now();
    return paid;
  }

  /** The orchestrator's manifest_id from the start answer: the signer needs it with the state. */
  setManifestId(manifestId: string): void {
    this.manifestId = manifestId;
  }

  /** One payment cycle: tickets for the time since the last one, sent to `POST /payment`. */
  async cycle(signal?: AbortSignal): Promise<LiveCycleResult> {
    const paid = await this.generate(signal);
    this.cycles++;
    if (!paid) {
      // 482: the credit covers this cycle; keep the state (the signer sends none).
      this.lastPaidAt = Date.now();
      return "skipped";
    }
    await this.post(paid, signal);
    this.lastPaidAt = Date.now();
    return "paid";
  }

  private async generate(signal?: AbortSignal): Promise<LiveStartPayment | undefined> {
    for (let refreshes = 0; ; ) {
      const res = await this.o.signer.generateLivePayment(
        { orchestrator: this.info, state: this.state, manifestId: this.state || this.manifestId ? this.manifestId : undefined, type: this.o.type ?? "lv2v", maxPrice: this.o.maxPrice },
        signal,
      );
      switch (res.kind) {
        case "Paid": {
          this.state = res.state;
          const n = decodeBase64("Payment", res.payment).ticketSenderParams?.length ?? 0;
          this.paidEv = this.paidEv.add(ticketEvOf(this.info).mul(Rational.of(BigInt(n))));
          return { payment: res.payment, segCreds: res.segCreds };
        }
        case "NoTicketsNeeded":
          return undefined;
        case "RefreshSession":
          if (++refreshes > MAX_CONSECUTIVE_REFRESHES) {
            throw new PaymentRefusal("refresh-exhausted", `the remote signer asked for ${refreshes} session refreshes in a row: ${res.message}`);
          }
          this.info = await this.o.quote();
          continue;
        case "PriceTooHigh":
          throw new PaymentRefusal("price-too-high", res.message || "orchestrator price above the ceiling");
      }
    }
  }

  private async post(paid: LiveStartPayment, signal?: AbortSignal): Promise<void> {
    const base = (this.info.transcoder ?? "").replace(/\/+$/, "");
    const timeout = AbortSignal.timeout(PAYMENT_POST_TIMEOUT_MS);
    const url = this.o.paymentUrl ?? `${base}/payment`;
    const res = await request(url, {
      method: "POST",
      dispatcher: orchestratorDispatcher(this.o.tls),
      headers: { [PAYMENT_HEADER]: paid.payment, [SEGMENT_HEADER]: paid.segCreds },
      body: "",
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body) {
      size += (c as Buffer).length;
      if (size > MAX_PAYMENT_RESULT_BYTES) {
        res.body.destroy();
        throw new Error(`POST ${url}: answer larger than ${MAX_PAYMENT_RESULT_BYTES} bytes`);
      }
      chunks.push(c as Buffer);
    }
    const body = Buffer.concat(chunks);
    if (res.statusCode !== 200) throw new PaymentPostError(res.statusCode, `POST ${url} answered ${res.statusCode}: ${body.subarray(0, 200).toString("utf8").trim()}`);
    const result = decodeMessage("PaymentResult", body);
    // go-livepeer's gateway takes the fresh info (new ticket params) from every PaymentResult.
    if (result.info) this.info = { ...result.info, transcoder: result.info.transcoder || this.info.transcoder };
  }
}
