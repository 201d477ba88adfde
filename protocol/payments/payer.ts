// The gateway's one way to pay orchestrators: for each kind of work it says what to put in the
// request (`Livepeer-Payment`) and what that cost, through a remote signer that holds the key.
// Work for an orchestrator that charges nothing (no ticket params, or price 0) is not paid.
import type { OrchestratorInfo, OrchestratorRequest, PriceInfo } from "../messages.ts";
import { BalanceSession, PaymentRefusal, wantsTickets, type RequestPayment, type TicketSource } from "./balance-session.ts";
import type { RemoteSignerClient } from "./remote-signer-client.ts";
import type { MaxPrice } from "./remote-signer-wire.ts";

/** Sessions idle this long are forgotten (the orchestrator keeps the balance; a new session re-learns it). */
export const PAYMENT_SESSION_IDLE_MS = 30 * 60_000;
/** At most this many (orchestrator, balance key) sessions are kept. */
export const MAX_PAYMENT_SESSIONS = 10_000;

export interface PayerIdentity {
  /** The signer's address (20 bytes): the ticket sender. */
  address: Uint8Array;
  /** Its signature over the checksummed address, for OrchestratorRequest.sig. */
  signature: Uint8Array;
}

export interface PayerOptions {
  signer: Pick<RemoteSignerClient, "generateLivePayment"> & TicketSource;
  /** The signer's identity once it answered /sign-orchestrator-info; undefined while it has not. */
  identity: () => PayerIdentity | undefined;
  /** GetOrchestrator on an orchestrator again (a 480, expired params): the fresh info. */
  refresh(orchestrator: string): Promise<OrchestratorInfo>;
  /** Ceiling sent to the signer with each payment, per kind of work. */
  maxPrice?: (work: "pixels" | "lv2v") => MaxPrice | undefined;
  now?: () => number;
}

export interface PixelWork {
  /** Registry identity of the orchestrator (its configured URL). */
  orchestrator: string;
  info: OrchestratorInfo;
  /** The price that applies to this work (the capability/model price for AI, price_info for transcoding). */
  price: PriceInfo;
  /** The orchestrator's balance key: "<capability>_<model>" for AI, the auth token's session id for segments. */
  balanceKey: string;
  pixels: number;
  /** How to get fresh info for this work (a 480); default: the Payer's refresh of the orchestrator. */
  refresh?: () => Promise<OrchestratorInfo>;
}

const FREE: Omit<RequestPayment, "info"> = { payment: "", evWei: 0n, settle: () => {} };

export class Payer {
  private readonly sessions = new Map<string, { session: BalanceSession; usedAt: number }>();
  private readonly now: () => number;

  constructor(private readonly o: PayerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The sender's fields of every GetOrchestrator request, so orchestrators quote ticket params for us. */
  orchestratorRequest(base: OrchestratorRequest = {}): OrchestratorRequest | undefined {
    const id = this.o.identity();
    return id ? { ...base, address: id.address, sig: id.signature } : undefined;
  }

  /** The payment for one request of pixel-priced work. Throws PaymentRefusal or RemoteSignerError. */
  async payPixels(work: PixelWork, signal?: AbortSignal): Promise<RequestPayment> {
    if (!wantsTickets(work.info, work.price)) return { ...FREE, info: work.info };
    const identity = this.o.identity();
    if (!identity) throw new PaymentRefusal("signer", "the remote signer has not answered yet: no payment can be made");
    const key = `${work.orchestrator}\u0000${work.balanceKey}`;
    let entry = this.sessions.get(key);
    if (!entry) {
      this.sweep();
      entry = {
        session: new BalanceSession({
          signer: this.o.signer,
          sender: identity.address,
          manifestId: work.balanceKey,
          refresh: work.refresh ?? (() => this.o.refresh(work.orchestrator)),
          maxPrice: this.o.maxPrice?.("pixels"),
        }),
        usedAt: this.now(),
      };
      this.sessions.set(key, entry);
    }
    entry.usedAt = this.now();
    return entry.session.pay(work.info, work.price, work.pixels, signal);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  private sweep(): void {
    const t = this.now();
    for (const [k, e] of this.sessions) if (t - e.usedAt > PAYMENT_SESSION_IDLE_MS) this.sessions.delete(k);
    while (this.sessions.size >= MAX_PAYMENT_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
  }
}
