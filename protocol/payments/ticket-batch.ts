// A batch of tickets sharing one set of params, as the `Payment` message carries it: created and
// signed by the sender (go-livepeer pm/sender.go CreateTicketBatch + server genPayment), and read
// back into tickets by the orchestrator (core/orchestrator.go ProcessPayment).
import type { Payment, PriceInfo } from "../messages.ts";
import { addressFromBytes, toHex0x } from "./address.ts";
import { verifyPersonalSignature, type MessageSigner } from "./personal-sign.ts";
import { ticketHash, type Ticket, type TicketExpiration } from "./ticket.ts";
import type { TicketParams } from "./ticket-params.ts";
import { bytesToUint, leftPad32, uintToMinimalBytes } from "./uint256.ts";

export const MAX_SENDER_NONCE = 0xffffffff;

/** go keys sender sessions (and nonce sequences) by the recipient rand hash as 0x hex. */
export function pmSessionId(recipientRandHash: Uint8Array): string {
  return toHex0x(leftPad32(recipientRandHash));
}

/**
 * The last nonce used with these params: the previous one while the recipient rand hash is the
 * same (same PM session), 0 when it changed (the orchestrator starts a fresh nonce space).
 */
export function lastNonceFor(previous: { pmSessionId: string; senderNonce: number } | undefined, recipientRandHash: Uint8Array): number {
  if (!previous || previous.pmSessionId.toLowerCase() !== pmSessionId(recipientRandHash)) return 0;
  return previous.senderNonce;
}

export interface TicketBatchInput {
  params: TicketParams;
  /** Creation round and block hash; go uses the params' own unless both are set to zero (then its chain's). */
  expiration: TicketExpiration;
  signer: MessageSigner;
  /** The last nonce used in this PM session; tickets get lastNonce+1 .. lastNonce+count. */
  lastNonce: number;
  count: number;
  /** The orchestrator's current price (OrchestratorInfo.price_info), echoed as expected_price. */
  expectedPrice?: PriceInfo;
}

export interface TicketBatch {
  payment: Payment;
  /** The nonce of the last ticket (store it: the next batch continues from it). */
  lastNonce: number;
}

/** Sign `count` tickets and pack them into a Payment exactly as go-livepeer's gateway does. */
export function createTicketBatch(input: TicketBatchInput): TicketBatch {
  const { params, expiration, signer, lastNonce, count } = input;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`ticket count ${count} must be a positive integer`);
  if (!Number.isInteger(lastNonce) || lastNonce < 0 || lastNonce + count > MAX_SENDER_NONCE) {
    throw new RangeError(`nonces ${lastNonce + 1}..${lastNonce + count} do not fit a uint32`);
  }
  const ticketSenderParams = [];
  for (let i = 1; i <= count; i++) {
    const senderNonce = lastNonce + i;
    const ticket: Ticket = {
      recipient: params.recipient,
      sender: signer.address,
      faceValue: params.faceValue,
      winProb: params.winProb,
      senderNonce,
      recipientRandHash: params.recipientRandHash,
      expiration,
    };
    ticketSenderParams.push({ senderNonce, sig: signer.sign(ticketHash(ticket)) });
  }
  const payment: Payment = {
    // go fills the big integers with big.Int.Bytes() (minimal) and leaves expiration_params out of
    // ticket_params: the orchestrator reads the top-level expiration_params.
    ticketParams: {
      recipient: params.recipient,
      faceValue: uintToMinimalBytes(params.faceValue),
      winProb: uintToMinimalBytes(params.winProb),
      recipientRandHash: params.recipientRandHash,
      seed: uintToMinimalBytes(params.seed),
      expirationBlock: uintToMinimalBytes(params.expirationBlock),
    },
    sender: signer.address,
    expirationParams: {
      creationRound: expiration.creationRound,
      creationRoundBlockHash: leftPad32(expiration.creationRoundBlockHash),
    },
    ticketSenderParams,
  };
  if (input.expectedPrice) payment.expectedPrice = input.expectedPrice;
  return { payment, lastNonce: lastNonce + count };
}

export interface SignedTicket {
  ticket: Ticket;
  sig: Uint8Array;
  /** Seed from ticket_params (the orchestrator derives its recipientRand from it). */
  seed: bigint;
  expirationBlock: bigint;
}

/** The tickets a Payment carries, as an orchestrator reconstructs them; [] when it has none (price 0). */
export function paymentTickets(payment: Payment): SignedTicket[] {
  const tp = payment.ticketParams;
  if (!tp) return [];
  const sender = addressFromBytes(payment.sender);
  const expiration: TicketExpiration = {
    creationRound: payment.expirationParams?.creationRound ?? 0,
    creationRoundBlockHash: leftPad32(payment.expirationParams?.creationRoundBlockHash?.subarray(-32) ?? new Uint8Array(0)),
  };
  const rrh = tp.recipientRandHash ?? new Uint8Array(0);
  return (payment.ticketSenderParams ?? []).map((sp) => ({
    ticket: {
      recipient: addressFromBytes(tp.recipient),
      sender,
      faceValue: bytesToUint(tp.faceValue),
      winProb: bytesToUint(tp.winProb),
      senderNonce: sp.senderNonce ?? 0,
      recipientRandHash: leftPad32(rrh.subarray(-32)),
      expiration,
    },
    sig: sp.sig ?? new Uint8Array(0),
    seed: bytesToUint(tp.seed),
    expirationBlock: bytesToUint(tp.expirationBlock),
  }));
}

/** Whether the ticket's signature is the sender's over its hash. */
export function ticketSignatureValid(t: { ticket: Ticket; sig: Uint8Array }): boolean {
  return verifyPersonalSignature(t.ticket.sender, ticketHash(t.ticket), t.sig);
}
