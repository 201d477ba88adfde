import assert from "node:assert/strict";
import { test } from "node:test";
import { hexToBytes } from "@noble/hashes/utils.js";
import { checksumAddress } from "./address.ts";
import { generateSecretKey, personalMessageHash, personalSign, recoverPersonalSigner, secretKeySigner, SignatureError, verifyPersonalSignature } from "./personal-sign.ts";

// go-livepeer crypto/verify_test.go: a 32-byte message signed by 0x3BadDb1eeE2105893136A3F96c8a963E9C6309d6.
const GO_ADDR = "0x3BadDb1eeE2105893136A3F96c8a963E9C6309d6";
const GO_MSG = hexToBytes("b7da355477356fc4c47fcabcf232dc77a6db9b07b7e48b76261cc55cc8fbabb3");
const GO_SIG = hexToBytes("206443228e8f784bc3a122de0d85eb3ebff82d6a79cca26c7eeb907099a6404f6dff57bc6828f28bd6cd073c89d94cf3364204679ed8365fa45b5ee6af19a9841c");
const GO_SIG_HIGH_S = hexToBytes("e742ff452d41413616a5bf43fe15dd88294e983d3d36206c2712f39083d638bde0a0fc89be718fbc1033e1d30d78be1c68081562ed2e97af876f286f3453231d1b");

test("recovers go-livepeer's test vector signer", () => {
  assert.equal(checksumAddress(recoverPersonalSigner(GO_MSG, GO_SIG)), GO_ADDR);
});

test("a different message recovers a different address", () => {
  assert.notEqual(checksumAddress(recoverPersonalSigner(Uint8Array.of(0xf0, 0x0f), GO_SIG)), GO_ADDR);
});

test("refuses what go-livepeer refuses: short signatures, high s, v not 27/28", () => {
  assert.throws(() => recoverPersonalSigner(GO_MSG, GO_SIG.subarray(0, 64)), new SignatureError("invalid signature length"));
  assert.throws(() => recoverPersonalSigner(GO_MSG, GO_SIG_HIGH_S), new SignatureError("signature s value too high"));
  const v1 = Uint8Array.from(GO_SIG);
  v1[64] = 1;
  assert.throws(() => recoverPersonalSigner(GO_MSG, v1), new SignatureError("signature v value must be 27 or 28"));
});

test("personal_sign hashes with the EIP-191 prefix and the decimal message length", () => {
  // keccak256("\x19Ethereum Signed Message:\n5hello"), the well-known hashMessage("hello").
  assert.equal(Buffer.from(personalMessageHash(new TextEncoder().encode("hello"))).toString("hex"), "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750");
});

test("a signature round-trips to the signer's address and fails for any other", () => {
  const signer = secretKeySigner(generateSecretKey());
  const msg = new TextEncoder().encode(checksumAddress(signer.address));
  const sig = signer.sign(msg);
  assert.equal(sig.length, 65);
  assert.ok(sig[64] === 27 || sig[64] === 28);
  assert.ok(verifyPersonalSignature(signer.address, msg, sig));
  const tampered = Uint8Array.from(msg);
  tampered[3] ^= 1;
  assert.equal(verifyPersonalSignature(signer.address, tampered, sig), false);
  assert.equal(verifyPersonalSignature(secretKeySigner(generateSecretKey()).address, msg, sig), false);
});

test("signing is deterministic (RFC 6979), as go-ethereum's", () => {
  const key = generateSecretKey();
  const m = Uint8Array.of(1, 2, 3);
  assert.deepEqual(personalSign(m, key), personalSign(m, key));
});
