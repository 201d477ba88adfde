// EIP-191 personal_sign, the only signature go-livepeer uses: secp256k1 ECDSA over
// keccak256("\x19Ethereum Signed Message:\n" + len(message) + message), encoded r|s|v with v in {27, 28}.
// Recovery refuses what go-livepeer's crypto.VerifySig refuses: other lengths, v not 27/28, high s.
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { concatBytes } from "@noble/hashes/utils.js";
import { addressFromPublicKey, sameAddress } from "./address.ts";

export const SIGNATURE_BYTES = 65;
const SECP256K1_HALF_N = secp256k1.Point.Fn.ORDER >> 1n;

/** The 32-byte digest personal_sign signs. */
export function personalMessageHash(message: Uint8Array): Uint8Array {
  const prefix = new TextEncoder().encode(`\x19Ethereum Signed Message:\n${message.length}`);
  return keccak_256(concatBytes(prefix, message));
}

/** Sign `message` with a 32-byte secret key: 65 bytes r|s|v, low s, v 27/28 (RFC 6979, deterministic). */
export function personalSign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  // noble's "recovered" format is recovery|r|s; Ethereum's is r|s|v.
  const rec = secp256k1.sign(personalMessageHash(message), secretKey, { prehash: false, format: "recovered" });
  const out = new Uint8Array(SIGNATURE_BYTES);
  out.set(rec.subarray(1), 0);
  out[64] = rec[0]! + 27;
  return out;
}

export class SignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SignatureError";
  }
}

/** The address that produced `signature` over `message`; throws SignatureError when malformed. */
export function recoverPersonalSigner(message: Uint8Array, signature: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_BYTES) throw new SignatureError("invalid signature length");
  const s = BigInt(`0x${Buffer.from(signature.subarray(32, 64)).toString("hex")}`);
  if (s > SECP256K1_HALF_N) throw new SignatureError("signature s value too high");
  const v = signature[64]!;
  if (v !== 27 && v !== 28) throw new SignatureError("signature v value must be 27 or 28");
  const rec = new Uint8Array(SIGNATURE_BYTES);
  rec[0] = v - 27;
  rec.set(signature.subarray(0, 64), 1);
  try {
    return addressFromPublicKey(secp256k1.recoverPublicKey(rec, personalMessageHash(message), { prehash: false }));
  } catch (err) {
    throw new SignatureError(`signature does not recover to a public key: ${(err as Error).message}`);
  }
}

/** Whether `signature` over `message` was made by `address` (false for any malformed signature). */
export function verifyPersonalSignature(address: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return sameAddress(recoverPersonalSigner(message, signature), address);
  } catch {
    return false;
  }
}

/** Whoever signs tickets, segment credentials and signer state: a key's address and its personal_sign. */
export interface MessageSigner {
  readonly address: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export function generateSecretKey(): Uint8Array {
  return secp256k1.utils.randomSecretKey();
}

/** A MessageSigner over a secret key held in memory. */
export function secretKeySigner(secretKey: Uint8Array): MessageSigner {
  if (!secp256k1.utils.isValidSecretKey(secretKey)) throw new RangeError("not a valid secp256k1 secret key");
  const key = Uint8Array.from(secretKey);
  const address = addressFromPublicKey(secp256k1.getPublicKey(key, false));
  return { address, sign: (message) => personalSign(message, key) };
}
