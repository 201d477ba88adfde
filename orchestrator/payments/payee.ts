// The paid orchestrator's cashier (go-livepeer core/orchestrator.go ProcessPayment, SufficientBalance,
// DebitFees): it holds the recipient key, issues ticket params bound to a sender and a price, checks
// every ticket of a payment with protocol/payments' TicketRecipient, credits the good ones' EV to
// (sender, balance key), logs the winning ones as redeemable, and debits work.
import type { Logger } from "../../core/log.ts";
import type { Payment, TicketParams as TicketParamsMessage } from "../../protocol/messages.ts";
import { addressFromBytes, checksumAddress, toHex0x } from "../../protocol/payments/address.ts";
import { generateSecretKey, secretKeySigner } from "../../protocol/payments/personal-sign.ts";
import { Rational } from "../../protocol/payments/rational.ts";
import { FACE_VALUE_EV_MULTIPLIER, TicketRecipient, winProbFor, type TicketRejection } from "../../protocol/payments/recipient.ts";
import { ticketHash } from "../../protocol/payments/ticket.ts";
import type { Price } from "../feature.ts";
import { Balances, type BalancesView } from "./balances.ts";
import { SimulatedL1Clock } from "./l1-clock.ts";

/** go-livepeer's -ticketEV default, wei. */
export const DEFAULT_TICKET_EV_WEI = 8_000_000_000n;

/** Not credited because an earlier ticket of the same payment was refused (go stops crediting there). */
export const AFTER_REJECTED_TICKET = "follows a rejected ticket in the same payment";

export interface PaymentReceipt {
  /** The payment's sender, EIP-55 (the zero address for an empty payment). */
  sender: string;
  /** EV credited by this payment. */
  credited: Rational;
  accepted: number;
  /** Why the payment was refused (go-livepeer's text; the request is answered 400), when it was. */
  error?: string;
}

export interface PayeeOptions {
  /** Required EV per ticket, wei (go's -ticketEV). */
  ticketEV?: bigint;
  /** Recipient key (32 bytes); a fresh one per process when absent. */
  secretKey?: Uint8Array;
  /** The HMAC secret recipientRands are derived from; random when absent (tests pass one to find winning tickets). */
  recipientSecret?: Uint8Array;
  clock?: SimulatedL1Clock;
  log: Logger;
}

export class Payee {
  readonly address: Uint8Array;
  /** The recipient address, EIP-55. */
  readonly addressText: string;
  readonly ticketEV: bigint;
  readonly clock: SimulatedL1Clock;
  readonly balances = new Balances();
  private readonly recipient: TicketRecipient;
  private readonly log: Logger;
  /** go's fixed price per (sender, manifest): the price the first admitted payment of a balance key was for. */
  private readonly fixedPrices = new Map<string, Price>();

  constructor(opts: PayeeOptions) {
    this.address = secretKeySigner(opts.secretKey ?? generateSecretKey()).address;
    this.addressText = checksumAddress(this.address);
    this.ticketEV = opts.ticketEV ?? DEFAULT_TICKET_EV_WEI;
    if (this.ticketEV <= 0n) throw new RangeError("ticket EV must be > 0 wei");
    this.clock = opts.clock ?? new SimulatedL1Clock();
    this.recipient = new TicketRecipient({ address: this.address, ev: this.ticketEV, secret: opts.recipientSecret });
    this.log = opts.log;
  }

  /** Face value of the tickets for a priced job (go's default: EV x 100). */
  get faceValue(): bigint {
    return this.ticketEV * FACE_VALUE_EV_MULTIPLIER;
  }

  /** Fresh params for `sender` at `price` (new seed, expiring 40 blocks from now). Price 0: face value 0. */
  ticketParams(sender: Uint8Array, price: Price): TicketParamsMessage {
    const block = this.clock.block();
    this.recipient.forgetExpired(block);
    return this.recipient.ticketParams(addressFromBytes(sender), Rational.of(price.pricePerUnit, price.pixelsPerUnit), block, this.clock.expiration());
  }

  /**
   * Check every ticket of `payment` and credit the good ones to (sender, balanceKey), in go's
   * order: a fatal refusal (wrong recipient, sender or rand commitment) stops at once, tickets
   * credited before it stay credited; after a non-fatal one (signature, reused nonce, expired
   * params) no further ticket is credited. A payment without ticket params credits nothing.
   */
  receive(payment: Payment, balanceKey: string): PaymentReceipt {
    const sender = checksumAddress(addressFromBytes(payment.sender));
    const receipt: PaymentReceipt = { sender, credited: Rational.ZERO, accepted: 0 };
    if (!payment.ticketParams) return receipt;
    const tickets = payment.ticketSenderParams ?? [];
    const refuseAll = (reason: string, error: string): PaymentReceipt => {
      for (let i = 0; i < tickets.length; i++) this.balances.reject(sender, balanceKey, reason);
      return { ...receipt, error };
    };
    if (!payment.sender || payment.sender.length === 0) return refuseAll("missing sender", "Could not find Sender for payment");
    const expected = payment.expectedPrice;
    if (!expected) return refuseAll("invalid expected price", 'invalid expected price sent with payment err="expected price is nil"');
    if (!((expected.pixelsPerUnit ?? 0) > 0) || (expected.pricePerUnit ?? 0) < 0) {
      return refuseAll("invalid expected price", `invalid expected price sent with payment err="invalid price ${expected.pricePerUnit ?? 0}/${expected.pixelsPerUnit ?? 0}"`);
    }
    const price = Rational.of(expected.pricePerUnit ?? 0, expected.pixelsPerUnit!);
    const block = this.clock.block();
    for (let i = 0; i < tickets.length; i++) {
      const tsp = tickets[i]!;
      // One ticket at a time, so each gets its own verdict (counted by reason, winners only when valid).
      const got = this.recipient.receivePayment({ ...payment, ticketSenderParams: [tsp] }, price, block);
      if (got.rejection) {
        this.balances.reject(sender, balanceKey, got.rejection);
        const error = goReceiveError(got.rejection, sender, tsp.senderNonce ?? 0);
        this.log.debug({ sender, balanceKey, senderNonce: tsp.senderNonce ?? 0, err: error }, "ticket refused");
        if (got.fatal) {
          for (let j = i + 1; j < tickets.length; j++) this.balances.reject(sender, balanceKey, AFTER_REJECTED_TICKET);
          return { ...receipt, error };
        }
        receipt.error = error; // go answers with the last non-fatal error
        continue;
      }
      for (const w of got.winning) {
        this.balances.winning(sender, balanceKey, w.ticket.faceValue);
        this.log.info(
          { sender, balanceKey, ticketHash: toHex0x(ticketHash(w.ticket)), faceValue: w.ticket.faceValue.toString(), senderNonce: w.ticket.senderNonce, recipientRandHash: toHex0x(w.ticket.recipientRandHash) },
          "winning ticket received: redeemable on chain for its face value",
        );
      }
      if (receipt.error) {
        this.balances.reject(sender, balanceKey, AFTER_REJECTED_TICKET);
        continue;
      }
      this.balances.credit(sender, balanceKey, got.credit);
      receipt.credited = receipt.credited.add(got.credit);
      receipt.accepted++;
    }
    return receipt;
  }

  /** go's SufficientBalance: the balance holds at least one ticket's EV (-ticketEV), whatever the work costs. */
  sufficientBalance(sender: string, balanceKey: string): boolean {
    return this.balances.balance(sender, balanceKey).cmp(Rational.of(this.ticketEV)) >= 0;
  }

  /** Debit a fee (the balance may go negative, as go's DebitFees). */
  debit(sender: string, balanceKey: string, fee: Rational): void {
    if (fee.sign() > 0) this.balances.debit(sender, balanceKey, fee);
  }

  /** Debit a fee only when the balance covers it (live sessions); else the balance, nothing debited. */
  debitIfCovered(sender: string, balanceKey: string, fee: Rational): { ok: true } | { ok: false; balance: Rational } {
    const balance = this.balances.balance(sender, balanceKey);
    if (balance.cmp(fee) < 0) {
      this.balances.insufficient(sender, balanceKey);
      return { ok: false, balance };
    }
    this.debit(sender, balanceKey, fee);
    return { ok: true };
  }

  /** Remember the price of a balance key's first admitted payment (refreshed params are made for it). */
  fixPrice(sender: string, balanceKey: string, price: Price): void {
    const k = `${sender}\n${balanceKey}`;
    if (!this.fixedPrices.has(k)) this.fixedPrices.set(k, { ...price });
  }

  fixedPrice(sender: string, balanceKey: string): Price | undefined {
    return this.fixedPrices.get(`${sender}\n${balanceKey}`);
  }

  /** GET /wharf/payments. */
  view(): PaymentsView {
    return {
      required: true,
      recipient: this.addressText,
      ticketEV: this.ticketEV.toString(),
      faceValue: this.faceValue.toString(),
      winProb: winProbFor(this.faceValue, this.ticketEV).toString(),
      l1Block: this.clock.block().toString(),
      ...this.balances.view(),
    };
  }
}

export interface PaymentsView extends BalancesView {
  required: true;
  recipient: string;
  ticketEV: string;
  faceValue: string;
  /** Numerator over 2^256 - 1. */
  winProb: string;
  l1Block: string;
}

/** The text go-livepeer's ProcessPayment error carries for a refused ticket (gateways match on it). */
function goReceiveError(rejection: TicketRejection, sender: string, nonce: number): string {
  switch (rejection) {
    case "ticket already used":
      return `invalid ticket senderNonce: already seen sender=${sender} nonce=${nonce}`;
    case "too many tickets for one recipientRand":
      return `invalid ticket senderNonce: too many values sender=${sender} nonce=${nonce}`;
    default:
      return rejection;
  }
}
