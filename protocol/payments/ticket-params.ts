// An orchestrator's ticket parameters (OrchestratorInfo.ticket_params) as numbers, and the rules a
// sender applies before paying with them (go-livepeer pm/sender.go validateTicketParams).
import type { TicketParams as TicketParamsMessage } from "../messages.ts";
import { addressFromBytes } from "./address.ts";
import { Rational } from "./rational.ts";
import { ticketEV, type TicketExpiration } from "./ticket.ts";
import { bytesToUint, leftPad32 } from "./uint256.ts";

export interface TicketParams {
  recipient: Uint8Array;
  faceValue: bigint;
  winProb: bigint;
  /** 32 bytes. */
  recipientRandHash: Uint8Array;
  seed: bigint;
  /** L1 block after which the orchestrator no longer accepts tickets made with these params. */
  expirationBlock: bigint;
  /** From ticket_params.expiration_params; zero when the orchestrator sent none. */
  expiration: TicketExpiration;
}

/** Decode the protobuf message as go's pmTicketParams does (short fields left-padded, empty = zero). */
export function decodeTicketParams(msg: TicketParamsMessage): TicketParams {
  const hash = msg.recipientRandHash ?? new Uint8Array(0);
  return {
    recipient: addressFromBytes(msg.recipient),
    faceValue: bytesToUint(msg.faceValue),
    winProb: bytesToUint(msg.winProb),
    recipientRandHash: leftPad32(hash.length > 32 ? hash.subarray(hash.length - 32) : hash),
    seed: bytesToUint(msg.seed),
    expirationBlock: bytesToUint(msg.expirationBlock),
    expiration: {
      creationRound: msg.expirationParams?.creationRound ?? 0,
      creationRoundBlockHash: leftPad32(msg.expirationParams?.creationRoundBlockHash?.subarray(-32) ?? new Uint8Array(0)),
    },
  };
}

/** go-livepeer's paramsExpiryBuffer: params within this many blocks of expiry count as expired. */
export const PARAMS_EXPIRY_BUFFER_BLOCKS = 1n;

/** go-livepeer's defaults for -maxTicketEV and -maxTotalEV (wei). */
export const DEFAULT_MAX_TICKET_EV_WEI = 3_000_000_000_000n;
export const DEFAULT_MAX_TOTAL_EV_WEI = 20_000_000_000_000n;

export interface SenderLimits {
  /** Largest acceptable EV of one ticket. */
  maxTicketEV: Rational;
  /** Largest acceptable EV of one batch (one payment). */
  maxTotalEV: Rational;
}

export type TicketParamsVerdict =
  | { ok: true }
  /** The orchestrator must be asked for fresh params (go: ErrTicketParamsExpired; the remote signer answers 480). */
  | { ok: false; expired: true; reason: string }
  | { ok: false; expired: false; reason: string };

/**
 * Whether a sender may pay `numTickets` tickets with these params when the last L1 block it saw is
 * `lastSeenL1Block`. Deposit and reserve checks are the on-chain sender's business and not made here.
 */
export function checkTicketParams(params: TicketParams, lastSeenL1Block: bigint, limits: SenderLimits, numTickets = 1): TicketParamsVerdict {
  if (params.expirationBlock === 0n) return { ok: false, expired: false, reason: "ticketParams expiration block is 0" };
  if (params.expirationBlock - lastSeenL1Block <= PARAMS_EXPIRY_BUFFER_BLOCKS) {
    return { ok: false, expired: true, reason: `TicketParams expired (expiration block ${params.expirationBlock}, last seen L1 block ${lastSeenL1Block})` };
  }
  const ev = ticketEV(params.faceValue, params.winProb);
  // go returns early here: zero-EV params are acceptable (they then buy no credit).
  if (ev.sign() <= 0) return { ok: true };
  if (ev.cmp(Rational.of(params.faceValue)) >= 0) return { ok: false, expired: false, reason: `ticket faceValue too low faceValue=${params.faceValue}` };
  if (ev.cmp(limits.maxTicketEV) > 0) {
    return { ok: false, expired: false, reason: `ticket EV ${ev.toFixed(5)} > max ticket EV ${limits.maxTicketEV.toFixed(5)}` };
  }
  const total = ev.mul(Rational.of(numTickets));
  if (total.cmp(limits.maxTotalEV) > 0) {
    return { ok: false, expired: false, reason: `total ticket EV ${total.toFixed(5)} for ${numTickets} tickets > max total ticket EV ${limits.maxTotalEV.toFixed(5)}` };
  }
  return { ok: true };
}
