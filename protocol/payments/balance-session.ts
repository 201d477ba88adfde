// Paying one orchestrator for pixel-priced work (batch AI, transcoded segments) through a remote
// signer, with the orchestrator's balance kept in view so tickets are bought only when it would
// fall short.
//
// Why not one signer call per request: the signer's state chains (each answer's state is the next
// call's input, nonces grow per recipient_rand_hash), so calls for one orchestrator run one at a
// time; at thousands of requests a second that queue would be the gateway's bottleneck. Instead:
//
//   B  = what the orchestrator holds for us (credited ticket EV minus the fees it debited)
//   R  = fees the orchestrator debited that we have not yet reported to the signer
//   S  = the signer's idea of the balance = B + R
//
// An orchestrator does work while B >= its ticket EV (go-livepeer's SufficientBalance) and then
// debits the fee (B may go negative). So before a request whose fee is f, with fees F of other
// requests in flight: if B - F - f >= EV, no ticket is needed and the request carries a Payment
// without tickets. Otherwise one refill runs (concurrent requests wait for it): the signer is asked
// for X = R + F + f + EV worth of pixels, which makes it sell n tickets with S + n*EV >= X, so
// B + n*EV = S + n*EV - R >= F + f + EV: every request in flight is covered and B stays >= EV.
// Every fee is reported exactly once, so S stays equal to B + R and nothing drifts.
import { decodeBase64, encodeBase64, type OrchestratorInfo, type Payment, type PriceInfo } from "../messages.ts";
import { Rational } from "./rational.ts";
import type { LivePaymentRequest, LivePaymentResult } from "./remote-signer-client.ts";
import type { SignerState } from "./remote-signer-wire.ts";
import { ticketEV } from "./ticket.ts";
import { bytesToUint } from "./uint256.ts";

/** The signer calls a session needs (RemoteSignerClient implements it). */
export interface TicketSource {
  generateLivePayment(req: LivePaymentRequest, signal?: AbortSignal): Promise<LivePaymentResult>;
}

/** go-livepeer's limit of consecutive 480 answers before giving up. */
export const MAX_CONSECUTIVE_REFRESHES = 3;

/** price-too-high: 481; refresh-exhausted: 480s in a row; no-quote: the orchestrator gave no info to pay with; signer: ours failed. */
export type PaymentRefusalKind = "price-too-high" | "refresh-exhausted" | "no-quote" | "signer";

/** The work cannot be paid: choose another orchestrator (price) or fail the request (signer). */
export class PaymentRefusal extends Error {
  constructor(
    readonly kind: PaymentRefusalKind,
    message: string,
  ) {
    super(message);
    this.name = "PaymentRefusal";
  }
}

/** What one request carries, and what it cost. */
export interface RequestPayment {
  /** `Livepeer-Payment` header value. */
  payment: string;
  /** Expected value of the tickets sent with this request, wei (0 when the balance covered it). */
  evWei: bigint;
  /** The OrchestratorInfo used (a 480 may have refreshed it): call the orchestrator with its auth token. */
  info: OrchestratorInfo;
  /** Call once: "done" when the orchestrator did (or may have done) the work, "not-done" when it surely did not. */
  settle(outcome: "done" | "not-done"): void;
}

export interface BalanceSessionOptions {
  signer: TicketSource;
  /** The signer's address (the ticket sender). */
  sender: Uint8Array;
  /** Names the session to the signer (its ManifestID), e.g. the orchestrator's balance key. */
  manifestId: string;
  /** GetOrchestrator again (after a 480 or expired params); resolves with fresh info. */
  refresh(): Promise<OrchestratorInfo>;
  /** Sent to the signer; a price above it is a 481. */
  maxPrice?: LivePaymentRequest["maxPrice"];
}

/** Wei per pixel of a PriceInfo; zero when absent or free. */
export function pricePerPixel(p: PriceInfo | undefined): Rational {
  if (!p?.pricePerUnit || !p.pixelsPerUnit) return Rational.ZERO;
  return Rational.of(BigInt(Math.round(p.pricePerUnit)), BigInt(Math.round(p.pixelsPerUnit)));
}

/** Whether an orchestrator wants tickets for this price: ticket params present and a non-zero price. */
export function wantsTickets(info: OrchestratorInfo, price: PriceInfo | undefined): boolean {
  return (info.ticketParams?.recipient?.length ?? 0) > 0 && (price?.pricePerUnit ?? 0) > 0 && (price?.pixelsPerUnit ?? 0) > 0;
}

/** Whole wei a fee comes to, rounded up (pixels x pricePerUnit / pixelsPerUnit). */
function feeWeiCeil(price: PriceInfo, pixels: number): bigint {
  const num = BigInt(Math.max(0, Math.ceil(pixels))) * BigInt(Math.round(price.pricePerUnit ?? 0));
  const den = BigInt(Math.max(1, Math.round(price.pixelsPerUnit ?? 1)));
  return (num + den - 1n) / den;
}

/** One ticket's EV in whole wei, rounded down; remembered per ticket params (it is a 256-bit division). */
const evFloorCache = new WeakMap<object, bigint>();
function evWeiFloor(info: OrchestratorInfo): bigint {
  const tp = info.ticketParams;
  if (!tp) return 0n;
  let ev = evFloorCache.get(tp);
  if (ev === undefined) {
    ev = ticketEvOf(info).floor();
    evFloorCache.set(tp, ev);
  }
  return ev;
}

/** A top-up starts when the balance left after a request falls below this many ticket EVs. */
const TOP_UP_BELOW_EVS = 2n;
/** Top-ups are for fees under 1/this of an EV (many requests per ticket). */
const TOP_UP_FEE_SHARE = 8n;

interface Bought {
  info: OrchestratorInfo;
  payment: string | undefined;
  /** EV of the tickets bought: rounded up for the record of what was paid, down for the mirror. */
  evWei: bigint;
  evFloor: bigint;
}

/** The Payment without tickets for (params, price): the same bytes every time, so encoded once. */
const ticketlessCache = new WeakMap<object, Map<string, string>>();

/**
 * The mirror of the orchestrator's balance is kept in whole wei, rounded against us (ticket EV
 * down, fees up): it decides when to buy, so erring low only buys a little early, and the hot
 * path stays on small integers instead of 256-bit fractions.
 */
export class BalanceSession {
  private balance = 0n; // B
  private unreported = 0n; // R
  private inFlight = 0n; // F
  private state: SignerState | undefined;
  private refill: Promise<void> | undefined;
  /**
   * Tickets bought ahead (topUp), not yet sent: not in the balance until a request carries them.
   * If no request follows before the session is swept as idle, they are never sent: at most one
   * ticket's EV per idle session, the price of never making a request wait for the signer.
   */
  private ahead: (Bought & { payment: string }) | undefined;
  /** The last top-up failed: the next shortfall buys on a request's path (and reports its error). */
  private topUpFailed = false;
  private readonly senderHex: string;

  constructor(private readonly o: BalanceSessionOptions) {
    this.senderHex = Buffer.from(o.sender).toString("hex");
  }

  /** B, for status pages and tests (whole wei, rounded down). */
  get balanceWei(): bigint {
    return this.balance;
  }

  /**
   * The payment for one request of `pixels` at `price` to the orchestrator described by `info`
   * (whose price_info is replaced by `price` for the signer, as the fee's price).
   */
  async pay(info: OrchestratorInfo, price: PriceInfo, pixels: number, signal?: AbortSignal): Promise<RequestPayment> {
    const fee = feeWeiCeil(price, pixels);
    let current = info;
    let evWei = 0n;
    let payment: string | undefined;
    // Loop: a refill run by another request may have covered us meanwhile.
    for (;;) {
      const ev = evWeiFloor(current);
      const spare = this.balance - this.inFlight - fee;
      if (this.ahead && !payment && spare + this.ahead.evFloor >= ev) {
        // Tickets bought ahead ride on the next request they cover: the orchestrator credits them
        // before it debits the work, and from here on the mirror counts them.
        const a = this.ahead;
        this.ahead = undefined;
        this.balance += a.evFloor;
        payment = a.payment;
        evWei = a.evWei;
        current = a.info;
        continue;
      }
      if (spare >= ev) {
        // Running low on small fees: buy the next tickets now, off this request's path, so no
        // request waits for the signer (a wait here holds every concurrent request of this
        // session: that was the p99). Fees near an EV or above buy per request anyway.
        if (spare < TOP_UP_BELOW_EVS * ev && fee * TOP_UP_FEE_SHARE < ev && !this.refill && !this.ahead && !this.topUpFailed) this.topUp(current, price, fee, ev);
        break;
      }
      if (this.refill) {
        await this.refill;
        continue;
      }
      let done!: () => void;
      this.refill = new Promise<void>((r) => (done = r));
      try {
        // Tickets bought ahead and not yet sent are in the signer's credit but not the
        // orchestrator's: ask for that much more (they still go with a later request).
        // Small fees also buy one EV of headroom, so the next top-up starts in the background.
        const headroom = fee * TOP_UP_FEE_SHARE < ev ? ev : 0n;
        const bought = await this.buy(current, price, fee + (this.ahead?.evFloor ?? 0n) + headroom, ev, signal);
        this.balance += bought.evFloor;
        current = bought.info;
        evWei = bought.evWei;
        payment = bought.payment;
        this.topUpFailed = false;
      } finally {
        this.refill = undefined;
        done();
      }
      break;
    }
    this.inFlight += fee;
    let settled = false;
    return {
      payment: payment ?? this.ticketless(current, price),
      evWei,
      info: current,
      settle: (outcome) => {
        if (settled) return;
        settled = true;
        this.inFlight -= fee;
        if (outcome === "done") {
          this.balance -= fee;
          this.unreported += fee;
        }
      },
    };
  }

  /** Buys the next tickets in the background (one refill at a time, as on the request path). */
  private topUp(info: OrchestratorInfo, price: PriceInfo, fee: bigint, ev: bigint): void {
    let done!: () => void;
    this.refill = new Promise<void>((r) => (done = r));
    // Asked for one ticket's worth beyond the usual shortfall: the balance stays >= 2 EV after it
    // is delivered. "No tickets needed" means the balance already does (requests settled since):
    // nothing to add, unlike on the request path.
    this.buy(info, price, fee + ev, ev, undefined)
      .then((bought) => {
        if (bought.payment) this.ahead = { ...bought, payment: bought.payment };
      })
      .catch(() => {
        this.topUpFailed = true;
      })
      .finally(() => {
        this.refill = undefined;
        done();
      });
  }

  private async buy(
    info: OrchestratorInfo,
    price: PriceInfo,
    fee: bigint,
    ev: bigint,
    signal: AbortSignal | undefined,
  ): Promise<Bought> {
    let current = info;
    const perPixel = pricePerPixel(price);
    for (let refreshes = 0; ; ) {
      const want = this.unreported + this.inFlight + fee + ev;
      const pixels = want > 0n ? Rational.of(want).div(perPixel).ceil() : 1n;
      const res = await this.o.signer.generateLivePayment(
        {
          orchestrator: { ...current, priceInfo: price },
          state: this.state,
          manifestId: this.o.manifestId,
          type: "",
          inPixels: Number(pixels),
          maxPrice: this.o.maxPrice,
        },
        signal,
      );
      switch (res.kind) {
        case "Paid": {
          const n = BigInt(decodeBase64("Payment", res.payment).ticketSenderParams?.length ?? 0);
          const paid = ticketEvOf(current).mul(Rational.of(n));
          this.state = res.state;
          this.unreported -= perPixel.mul(Rational.of(pixels)).floor();
          return { info: current, payment: res.payment, evWei: paid.ceil(), evFloor: paid.floor() };
        }
        case "NoTicketsNeeded":
          // The signer holds more credit than we think (a restart of ours lost R): trust it once.
          return { info: current, payment: undefined, evWei: 0n, evFloor: ev };
        case "RefreshSession":
          if (++refreshes > MAX_CONSECUTIVE_REFRESHES) {
            throw new PaymentRefusal("refresh-exhausted", `the remote signer asked for ${refreshes} session refreshes in a row: ${res.message}`);
          }
          current = await this.o.refresh();
          continue;
        case "PriceTooHigh":
          throw new PaymentRefusal("price-too-high", res.message || "orchestrator price above the ceiling");
      }
    }
  }

  /** A Payment without tickets: names the sender, the params and the price; the balance pays. */
  private ticketless(info: OrchestratorInfo, price: PriceInfo): string {
    const tp = info.ticketParams ?? {};
    let byPrice = ticketlessCache.get(tp);
    if (!byPrice) ticketlessCache.set(tp, (byPrice = new Map()));
    const key = `${this.senderHex}/${price.pricePerUnit}/${price.pixelsPerUnit}/${price.capability ?? ""}/${price.constraint ?? ""}`;
    let b64 = byPrice.get(key);
    if (!b64) {
      if (byPrice.size >= 64) byPrice.clear();
      const payment: Payment = { ticketParams: info.ticketParams, sender: this.o.sender, expirationParams: info.ticketParams?.expirationParams, ticketSenderParams: [], expectedPrice: price };
      b64 = encodeBase64("Payment", payment);
      byPrice.set(key, b64);
    }
    return b64;
  }
}

/** EV of one ticket under `info`'s params (zero without params). */
export function ticketEvOf(info: OrchestratorInfo): Rational {
  const tp = info.ticketParams;
  if (!tp) return Rational.ZERO;
  return ticketEV(bytesToUint(tp.faceValue), bytesToUint(tp.winProb));
}
