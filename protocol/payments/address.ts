// Ethereum addresses: the last 20 bytes of keccak256 of an uncompressed secp256k1 public key,
// written with the EIP-55 mixed-case checksum. Tickets carry them as 20 raw bytes.
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";

export const ADDRESS_BYTES = 20;

/** The address of a secp256k1 public key (33-byte compressed or 65-byte uncompressed). */
export function addressFromPublicKey(publicKey: Uint8Array): Uint8Array {
  const point = secp256k1.Point.fromBytes(publicKey);
  const uncompressed = point.toBytes(false);
  return keccak_256(uncompressed.subarray(1)).slice(-ADDRESS_BYTES);
}

/**
 * 20 address bytes from a protobuf `bytes` field, as go's common.BytesToAddress: longer input
 * keeps its last 20 bytes, shorter input is left-padded (so an empty field is the zero address).
 */
export function addressFromBytes(bytes: Uint8Array | undefined): Uint8Array {
  const out = new Uint8Array(ADDRESS_BYTES);
  if (!bytes) return out;
  const tail = bytes.length > ADDRESS_BYTES ? bytes.subarray(bytes.length - ADDRESS_BYTES) : bytes;
  out.set(tail, ADDRESS_BYTES - tail.length);
  return out;
}

/**
 * Checksummed texts of the addresses seen lately. An orchestrator names the sender of every
 * payment it gets (one per AI request or segment) and a keccak each was a tenth of a paying
 * orchestrator's CPU; the senders are few. Cleared when full, so bounded whatever senders come.
 */
const checksummed = new Map<string, string>();
const MAX_CHECKSUMMED = 4096;

/** EIP-55 checksummed `0x...` text of 20 address bytes. */
export function checksumAddress(address: Uint8Array): string {
  if (address.length !== ADDRESS_BYTES) throw new RangeError(`an address is 20 bytes, got ${address.length}`);
  const hex = bytesToHex(address);
  const known = checksummed.get(hex);
  if (known !== undefined) return known;
  const hash = bytesToHex(keccak_256(new TextEncoder().encode(hex)));
  let out = "0x";
  for (let i = 0; i < hex.length; i++) {
    out += parseInt(hash[i]!, 16) >= 8 ? hex[i]!.toUpperCase() : hex[i];
  }
  if (checksummed.size >= MAX_CHECKSUMMED) checksummed.clear();
  checksummed.set(hex, out);
  return out;
}

export class AddressFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AddressFormatError";
  }
}

/**
 * Parse `0x` + 40 hex digits. All-lower or all-upper case is accepted as is; mixed case must carry
 * a valid EIP-55 checksum (a typo in a checksummed address is then caught).
 */
export function parseAddress(text: string): Uint8Array {
  const s = text.trim();
  const m = /^0x([0-9a-fA-F]{40})$/.exec(s);
  if (!m) throw new AddressFormatError(`"${text}" is not an address (0x + 40 hex digits)`);
  const digits = m[1]!;
  const bytes = hexToBytes(digits.toLowerCase());
  const mixed = digits !== digits.toLowerCase() && digits !== digits.toUpperCase();
  if (mixed && checksumAddress(bytes) !== s) throw new AddressFormatError(`"${text}" has a wrong EIP-55 checksum`);
  return bytes;
}

export function sameAddress(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lowercase `0x` hex of any bytes (hashes, signatures, go's HexBytes JSON form). */
export function toHex0x(bytes: Uint8Array): string {
  return `0x${bytesToHex(bytes)}`;
}
