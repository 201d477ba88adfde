// A probabilistic micropayment ticket (go-livepeer pm/ticket.go): its fields, the hash the sender
// signs (Solidity tight packing, as the TicketBroker contract recomputes it) and its expected value.
import { keccak_256 } from "@noble/hashes/sha3.js";
import { concatBytes } from "@noble/hashes/utils.js";
import { ADDRESS_BYTES } from "./address.ts";
import { Rational } from "./rational.ts";
import { UINT256_BYTES, UINT256_MAX, uintToBytes32 } from "./uint256.ts";

/** 2^256 - 1: a ticket with this win probability always wins. */
export const MAX_WIN_PROB = UINT256_MAX;

/** The round a ticket is created in and that round's L1 block hash (aux data; zero on off-chain setups). */
export interface TicketExpiration {
  creationRound: number;
  /** 32 bytes (shorter input is left-padded, as go's BytesToHash). */
  creationRoundBlockHash: Uint8Array;
}

export interface Ticket {
  /** 20 bytes: the orchestrator's address. */
  recipient: Uint8Array;
  /** 20 bytes: the gateway's (signer's) address. */
  sender: Uint8Array;
  faceValue: bigint;
  winProb: bigint;
  /** uint32, unique per recipientRandHash. */
  senderNonce: number;
  /** 32 bytes: keccak256 of the orchestrator's secret recipientRand. */
  recipientRandHash: Uint8Array;
  expiration: TicketExpiration;
}

function fixed(bytes: Uint8Array, length: number, what: string): Uint8Array {
  if (bytes.length > length) throw new RangeError(`${what}: ${bytes.length} bytes, at most ${length}`);
  const out = new Uint8Array(length);
  out.set(bytes, length - bytes.length);
  return out;
}

/** creationRound (32) | creationRoundBlockHash (32), or nothing when both are zero (pm/ticket.go AuxData). */
export function ticketAuxData(exp: TicketExpiration): Uint8Array {
  const hash = fixed(exp.creationRoundBlockHash, UINT256_BYTES, "creation round block hash");
  if (exp.creationRound === 0 && hash.every((b) => b === 0)) return new Uint8Array(0);
  // go packs big.NewInt(round).Bytes(), the absolute value; rounds are never negative in practice.
  return concatBytes(uintToBytes32(BigInt(Math.abs(exp.creationRound))), hash);
}

/** The packed bytes a ticket hash is taken over. */
export function ticketPreimage(t: Ticket): Uint8Array {
  if (!Number.isInteger(t.senderNonce) || t.senderNonce < 0 || t.senderNonce > 0xffffffff) {
    throw new RangeError(`sender nonce ${t.senderNonce} is not a uint32`);
  }
  return concatBytes(
    fixed(t.recipient, ADDRESS_BYTES, "recipient"),
    fixed(t.sender, ADDRESS_BYTES, "sender"),
    uintToBytes32(t.faceValue),
    uintToBytes32(t.winProb),
    uintToBytes32(BigInt(t.senderNonce)),
    fixed(t.recipientRandHash, UINT256_BYTES, "recipient rand hash"),
    ticketAuxData(t.expiration),
  );
}

/** keccak256 of the packed ticket: what the sender personal_signs. */
export function ticketHash(t: Ticket): Uint8Array {
  return keccak_256(ticketPreimage(t));
}

/** Expected value in wei, exact: faceValue x winProb / (2^256 - 1). */
export function ticketEV(faceValue: bigint, winProb: bigint): Rational {
  return Rational.of(faceValue).mul(Rational.of(winProb, MAX_WIN_PROB));
}

/** Win probability as a fraction of 1. */
export function winProbability(winProb: bigint): Rational {
  return Rational.of(winProb, MAX_WIN_PROB);
}
