// Unsigned 256-bit integers in the two byte forms go-livepeer uses: Solidity's tight packing
// (big-endian, left-padded to 32 bytes, what ticket hashes are computed over) and protobuf
// `bytes` fields (go's big.Int.Bytes(): minimal big-endian, zero is the empty string).
import { bytesToHex } from "@noble/hashes/utils.js";

export const UINT256_BYTES = 32;
export const UINT256_MAX = (1n << 256n) - 1n;

/** Big-endian bytes (any length, empty = 0) to an integer. */
export function bytesToUint(bytes: Uint8Array | undefined): bigint {
  if (!bytes || bytes.length === 0) return 0n;
  return BigInt(`0x${bytesToHex(bytes)}`);
}

function checkUint256(value: bigint): void {
  if (value < 0n || value > UINT256_MAX) throw new RangeError(`${value} is not a uint256`);
}

/** The minimal big-endian bytes of a non-negative integer (0 -> empty), as go's big.Int.Bytes(). */
export function uintToMinimalBytes(value: bigint): Uint8Array {
  checkUint256(value);
  if (value === 0n) return new Uint8Array(0);
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

/** Left-pad to 32 bytes (go's LeftPadBytes(b, 32)); longer input is an error, not truncated. */
export function leftPad32(bytes: Uint8Array): Uint8Array {
  if (bytes.length > UINT256_BYTES) throw new RangeError(`${bytes.length} bytes do not fit 32`);
  const out = new Uint8Array(UINT256_BYTES);
  out.set(bytes, UINT256_BYTES - bytes.length);
  return out;
}

/** A uint256 as Solidity packs it: 32 bytes big-endian. */
export function uintToBytes32(value: bigint): Uint8Array {
  return leftPad32(uintToMinimalBytes(value));
}
