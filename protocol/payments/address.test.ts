import assert from "node:assert/strict";
import { test } from "node:test";
import { hexToBytes } from "@noble/hashes/utils.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { addressFromBytes, addressFromPublicKey, AddressFormatError, checksumAddress, parseAddress } from "./address.ts";

// go-ethereum's crypto tests: key 289c28... belongs to 0x970e8128ab834e8eac17ab8e3812f010678cf791.
const GETH_KEY = hexToBytes("289c2857d4598e37fb9647507e47a309d6133539bf21a8b9cb6df88fd5232032");

test("the address of a public key is keccak256 of its uncompressed form, compressed or not", () => {
  const want = "0x970E8128AB834E8EAC17Ab8E3812F010678CF791";
  assert.equal(checksumAddress(addressFromPublicKey(secp256k1.getPublicKey(GETH_KEY, false))), want);
  assert.equal(checksumAddress(addressFromPublicKey(secp256k1.getPublicKey(GETH_KEY, true))), want);
});

test("EIP-55 checksums match the EIP's own examples", () => {
  for (const a of [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
  ]) {
    assert.equal(checksumAddress(parseAddress(a)), a);
  }
});

test("parseAddress refuses a mixed-case address with a wrong checksum, accepts single-case", () => {
  assert.throws(() => parseAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"), AddressFormatError);
  assert.throws(() => parseAddress("0x1234"), AddressFormatError);
  assert.equal(parseAddress("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED").length, 20);
});

test("addressFromBytes keeps the last 20 bytes and left-pads short input, as go's BytesToAddress", () => {
  const long = new Uint8Array(25).map((_, i) => i);
  assert.deepEqual([...addressFromBytes(long)], [...long.subarray(5)]);
  const short = addressFromBytes(Uint8Array.of(7));
  assert.equal(short.length, 20);
  assert.equal(short[19], 7);
  assert.ok(addressFromBytes(undefined).every((b) => b === 0));
});
