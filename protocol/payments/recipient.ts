// The orchestrator's side of tickets (go-livepeer pm/recipient.go, pm/validator.go): it commits to
// a secret recipientRand per params (keccak256(leftpad32(rand)) is the recipient_rand_hash), hands
// out ticket params, and checks received tickets: signature, commitment, nonce reuse, expiry, win.
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { concatBytes, randomBytes } from "@noble/hashes/utils.js";
import type { Payment, TicketParams as TicketParamsMessage } from "../messages.ts";
import { ADDRESS_BYTES, sameAddress } from "./address.ts";
import { Rational } from "./rational.ts";
import { MAX_WIN_PROB, ticketAuxData, ticketEV, type TicketExpiration } from "./ticket.ts";
import { paymentTickets, ticketSignatureValid, type SignedTicket } from "./ticket-batch.ts";
import { bytesToUint, leftPad32, uintToBytes32, uintToMinimalBytes } from "./uint256.ts";

/** go-livepeer: params expire this many L1 blocks after the last one seen when they were made. */
export const PARAMS_EXPIRATION_BLOCKS = 40n;
/** go-livepeer: face value = EV x this (when gas costs do not demand more). */
export const FACE_VALUE_EV_MULTIPLIER = 100n;
/** go-livepeer: nonces remembered per recipientRand before further tickets are refused. */
export const MAX_SENDER_NONCES = 600;

/** The commitment an orchestrator publishes: keccak256 of recipientRand left-padded to 32 bytes. */
export function recipientRandHash(recipientRand: bigint): Uint8Array {
  return keccak_256(uintToBytes32(recipientRand));
}

/** A ticket wins when keccak256(sig | leftpad32(recipientRand)) < winProb, as 256-bit integers. */
export function isWinningTicket(sig: Uint8Array, recipientRand: bigint, winProb: bigint): boolean {
  return bytesToUint(keccak_256(concatBytes(sig, uintToBytes32(recipientRand)))) < winProb;
}

/** Win probability numerator for an EV and face value (pm/recipient.go winProb). */
export function winProbFor(faceValue: bigint, ev: bigint): bigint {
  if (faceValue === 0n) return 0n;
  if (faceValue === ev) return MAX_WIN_PROB;
  const x = MAX_WIN_PROB / faceValue;
  return MAX_WIN_PROB % faceValue !== 0n ? ev * (x + 1n) : ev * x;
}

export interface RandInput {
  seed: bigint;
  sender: Uint8Array;
  faceValue: bigint;
  winProb: bigint;
  expirationBlock: bigint;
  /** The price the params were made for (wei per pixel), reduced. */
  price: Rational;
  expiration: TicketExpiration;
}

/**
 * recipientRand = HMAC-SHA256(secret, seed | sender | faceValue | winProb | expirationBlock |
 * price.num | price.den | auxData), every integer in minimal big-endian bytes (go's big.Int.Bytes()).
 * The orchestrator keeps no table: it recomputes rand from what each payment echoes back.
 */
export function recipientRand(secret: Uint8Array, r: RandInput): bigint {
  const msg = concatBytes(
    uintToMinimalBytes(r.seed),
    r.sender,
    uintToMinimalBytes(r.faceValue),
    uintToMinimalBytes(r.winProb),
    uintToMinimalBytes(r.expirationBlock),
    uintToMinimalBytes(r.price.num < 0n ? -r.price.num : r.price.num),
    uintToMinimalBytes(r.price.den),
    ticketAuxData(r.expiration),
  );
  return bytesToUint(hmac(sha256, secret, msg));
}

export type TicketRejection =
  | "invalid ticket recipient"
  | "invalid ticket sender"
  | "invalid recipientRand for ticket recipientRandHash"
  | "invalid ticket signature"
  | "ticket already used"
  | "too many tickets for one recipientRand"
  | "TicketParams expired";

export interface ReceivedPayment {
  /** Sum of the EVs of the tickets accepted (credit for the sender's session). */
  credit: Rational;
  accepted: number;
  /** Winning tickets with the recipientRand that redeems them. */
  winning: Array<SignedTicket & { recipientRand: bigint }>;
  /** Why the first refused ticket was refused; tickets after it are not credited (as go-livepeer). */
  rejection?: TicketRejection;
  /** Fatal rejections (wrong recipient, sender or commitment) refuse the whole payment. */
  fatal?: boolean;
}

export interface TicketRecipientOptions {
  /** The orchestrator's address (ticket recipient), 20 bytes. */
  address: Uint8Array;
  /** Required EV per ticket, wei. */
  ev: bigint;
  /** HMAC secret; random when absent. */
  secret?: Uint8Array;
}

/** One orchestrator's ticket desk: issues params and receives payments made with them. */
export class TicketRecipient {
  readonly address: Uint8Array;
  readonly ev: bigint;
  private readonly secret: Uint8Array;
  /** recipientRand (decimal) -> nonces seen and the expiration block of its params. */
  private readonly nonces = new Map<string, { seen: Set<number>; expirationBlock: bigint }>();

  constructor(opts: TicketRecipientOptions) {
    if (opts.address.length !== ADDRESS_BYTES) throw new RangeError("recipient address must be 20 bytes");
    if (opts.ev < 0n) throw new RangeError("ticket EV must be >= 0");
    this.address = Uint8Array.from(opts.address);
    this.ev = opts.ev;
    this.secret = opts.secret ? Uint8Array.from(opts.secret) : randomBytes(32);
  }

  /**
   * Ticket params for `sender` at `price` (wei per pixel). Price 0 gives face value, win
   * probability and EV 0 (nothing to pay). `expiration` is the creation round (zero off-chain).
   */
  ticketParams(sender: Uint8Array, price: Rational, lastSeenL1Block: bigint, expiration: TicketExpiration = { creationRound: 0, creationRoundBlockHash: new Uint8Array(32) }): TicketParamsMessage {
    const seed = bytesToUint(randomBytes(32));
    const faceValue = price.sign() > 0 ? this.ev * FACE_VALUE_EV_MULTIPLIER : 0n;
    const winProb = winProbFor(faceValue, this.ev);
    const expirationBlock = lastSeenL1Block + PARAMS_EXPIRATION_BLOCKS;
    const rand = recipientRand(this.secret, { seed, sender, faceValue, winProb, expirationBlock, price, expiration });
    return {
      recipient: this.address,
      faceValue: uintToMinimalBytes(faceValue),
      winProb: uintToMinimalBytes(winProb),
      recipientRandHash: recipientRandHash(rand),
      seed: uintToMinimalBytes(seed),
      expirationBlock: uintToMinimalBytes(expirationBlock),
      expirationParams: { creationRound: expiration.creationRound, creationRoundBlockHash: leftPad32(expiration.creationRoundBlockHash) },
    };
  }

  /**
   * Check and credit the tickets of a payment. `price` is the payment's expected_price as a
   * reduced fraction (it is part of the rand derivation, so a payment claiming another price fails).
   */
  receivePayment(payment: Payment, price: Rational, lastSeenL1Block: bigint): ReceivedPayment {
    const out: ReceivedPayment = { credit: Rational.ZERO, accepted: 0, winning: [] };
    for (const t of paymentTickets(payment)) {
      const { ticket } = t;
      const rand = recipientRand(this.secret, {
        seed: t.seed,
        sender: ticket.sender,
        faceValue: ticket.faceValue,
        winProb: ticket.winProb,
        expirationBlock: t.expirationBlock,
        price,
        expiration: ticket.expiration,
      });
      const fatal = (rejection: TicketRejection): ReceivedPayment => ({ ...out, rejection, fatal: true });
      if (!sameAddress(ticket.recipient, this.address)) return fatal("invalid ticket recipient");
      if (ticket.sender.every((b) => b === 0)) return fatal("invalid ticket sender");
      if (!sameAddress(recipientRandHash(rand), ticket.recipientRandHash)) return fatal("invalid recipientRand for ticket recipientRandHash");
      let rejection: TicketRejection | undefined;
      if (!ticketSignatureValid(t)) rejection = "invalid ticket signature";
      else {
        if (isWinningTicket(t.sig, rand, ticket.winProb)) out.winning.push({ ...t, recipientRand: rand });
        rejection = this.useNonce(rand, ticket.senderNonce, t.expirationBlock);
        if (!rejection && t.expirationBlock <= lastSeenL1Block) rejection = "TicketParams expired";
      }
      if (rejection) {
        out.rejection ??= rejection;
        continue;
      }
      if (!out.rejection) {
        out.credit = out.credit.add(ticketEV(ticket.faceValue, ticket.winProb));
        out.accepted++;
      }
    }
    return out;
  }

  /** Forget nonce sets of params that expired before `lastSeenL1Block` (call now and then). */
  forgetExpired(lastSeenL1Block: bigint): void {
    for (const [k, v] of this.nonces) if (v.expirationBlock <= lastSeenL1Block) this.nonces.delete(k);
  }

  private useNonce(rand: bigint, nonce: number, expirationBlock: bigint): TicketRejection | undefined {
    const key = rand.toString();
    let entry = this.nonces.get(key);
    if (!entry) this.nonces.set(key, (entry = { seen: new Set(), expirationBlock }));
    if (entry.seen.has(nonce)) return "ticket already used";
    if (entry.seen.size >= MAX_SENDER_NONCES) return "too many tickets for one recipientRand";
    entry.seen.add(nonce);
    return undefined;
  }
}
