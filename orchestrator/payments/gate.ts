// Where a paid request meets the payee: the `Livepeer-Payment` header read (402 when it is not
// base64 protobuf), its tickets credited (400 with go-livepeer's text when one is refused), the
// balance checked before the work (400 "Insufficient balance"), and the work debited after it.
// Errors are plain text, as go-livepeer's http.Error. Without a payee (no --require-payment)
// nothing is read or checked: every request is admitted and debits do nothing.
import type { FastifyReply, FastifyRequest } from "fastify";
import { DecodeError, decodeBase64, type Payment } from "../../protocol/messages.ts";
import { Rational } from "../../protocol/payments/rational.ts";
import { PAYMENT_HEADER } from "../../protocol/segment-header.ts";
import type { Price, WorkPayment } from "../feature.ts";
import type { Payee, PaymentReceipt } from "./payee.ts";
import { workFee } from "./work-units.ts";

const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

export const INSUFFICIENT_BALANCE = "Insufficient balance";

/**
 * Payments that carry no ticket, by header. Between tickets a gateway sends the same header
 * with every request (sender, ticket params, expected price); decoding it each time was a
 * tenth of a paying orchestrator's CPU per AI request. Nothing mutates a decoded Payment.
 */
const ticketless = new Map<string, Payment>();
const MAX_TICKETLESS = 256;

/** The header's Payment; an absent or empty header is an empty Payment (go: no 402). Throws DecodeError. */
export function decodePaymentHeader(value: string | string[] | undefined): Payment {
  const v = (Array.isArray(value) ? value[0] : value) ?? "";
  const known = ticketless.get(v);
  if (known) return known;
  try {
    const payment = decodeBase64("Payment", v);
    if (!payment.ticketSenderParams?.length && v.length <= 4096) {
      if (ticketless.size >= MAX_TICKETLESS) ticketless.clear();
      ticketless.set(v, payment);
    }
    return payment;
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    throw new DecodeError(err.message.includes("not base64") ? `base64 decode error: ${err.message}` : `protobuf unmarshal error: ${err.message}`);
  }
}

export class PaymentGate {
  constructor(private readonly payee: Payee | undefined) {}

  get required(): boolean {
    return this.payee !== undefined;
  }

  /** The request's Payment; replies 402 and returns undefined when the header is not decodable. */
  async read(req: FastifyRequest, reply: FastifyReply): Promise<Payment | undefined> {
    try {
      return decodePaymentHeader(req.headers[PAYMENT_HEADER.toLowerCase()]);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      await reply.code(402).type("text/plain").send(err.message);
      return undefined;
    }
  }

  /** Credit the payment's tickets to (sender, balanceKey); replies 400 and returns undefined when it is refused. */
  async credit(payment: Payment, reply: FastifyReply, balanceKey: string): Promise<PaymentReceipt | undefined> {
    if (!this.payee) return { sender: ZERO_ADDRESS, credited: Rational.ZERO, accepted: 0 };
    const receipt = this.payee.receive(payment, balanceKey);
    if (receipt.error === undefined) return receipt;
    await reply.code(400).type("text/plain").send(receipt.error);
    return undefined;
  }

  /**
   * Credit the payment, then admit the work when the balance covers it (go: balance >= ticket EV,
   * checked when the price is not 0). Replies 400 and returns undefined otherwise.
   */
  async admit(payment: Payment, reply: FastifyReply, balanceKey: string, price: Price): Promise<WorkPayment | undefined> {
    const receipt = await this.credit(payment, reply, balanceKey);
    if (!receipt) return undefined;
    const payee = this.payee;
    if (!payee) return freeWork(balanceKey, price);
    const { sender } = receipt;
    if (price.pricePerUnit > 0 && !payee.sufficientBalance(sender, balanceKey)) {
      payee.balances.insufficient(sender, balanceKey);
      await reply.code(400).type("text/plain").send(INSUFFICIENT_BALANCE);
      return undefined;
    }
    payee.fixPrice(sender, balanceKey, price);
    return {
      sender,
      balanceKey,
      price,
      debit: (units) => payee.debit(sender, balanceKey, workFee(units, price)),
      debitIfCovered: (units) => {
        const fee = workFee(units, price);
        const r = payee.debitIfCovered(sender, balanceKey, fee);
        return r.ok ? undefined : { fee: fee.toFixed(0), balance: r.balance.toFixed(0) };
      },
    };
  }

  /** read + admit: the whole check a paid request goes through. */
  async accept(req: FastifyRequest, reply: FastifyReply, balanceKey: string, price: Price): Promise<WorkPayment | undefined> {
    if (!this.payee) return freeWork(balanceKey, price);
    const payment = await this.read(req, reply);
    return payment && this.admit(payment, reply, balanceKey, price);
  }
}

function freeWork(balanceKey: string, price: Price): WorkPayment {
  return { sender: ZERO_ADDRESS, balanceKey, price, debit: () => {}, debitIfCovered: () => undefined };
}
