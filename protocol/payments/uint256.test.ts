import assert from "node:assert/strict";
import { test } from "node:test";
import { bytesToUint, leftPad32, UINT256_MAX, uintToBytes32, uintToMinimalBytes } from "./uint256.ts";

test("minimal bytes are go's big.Int.Bytes(): zero is empty, no leading zero bytes", () => {
  assert.equal(uintToMinimalBytes(0n).length, 0);
  assert.deepEqual([...uintToMinimalBytes(255n)], [255]);
  assert.deepEqual([...uintToMinimalBytes(256n)], [1, 0]);
  assert.equal(uintToMinimalBytes(UINT256_MAX).length, 32);
});

test("32-byte packing round-trips and refuses what is not a uint256", () => {
  for (const v of [0n, 1n, 10n ** 18n, UINT256_MAX]) assert.equal(bytesToUint(uintToBytes32(v)), v);
  assert.throws(() => uintToBytes32(-1n), RangeError);
  assert.throws(() => uintToBytes32(UINT256_MAX + 1n), RangeError);
  assert.throws(() => leftPad32(new Uint8Array(33)), RangeError);
  assert.equal(bytesToUint(undefined), 0n);
});
