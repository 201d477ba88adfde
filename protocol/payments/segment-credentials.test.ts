import assert from "node:assert/strict";
import { test } from "node:test";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { decodeMessage, encodeMessage } from "../messages.ts";
import { generateSecretKey, secretKeySigner } from "./personal-sign.ts";
import { flattenSegmentCredentials, livePaymentCredentials, profilesHex, segmentCredentialsMessage, segmentCredentialsValid, signSegmentCredentials } from "./segment-credentials.ts";

const KEY = hexToBytes("fad9c8855b740a0b7ed4c221dbad0f33a83a49cad6b3fe8d5817ac83d38b6a19");

test("flattening equals go-livepeer's TestSegmentFlatten vector", () => {
  const hash = new Uint8Array(32);
  hash.set(new TextEncoder().encode("browns"));
  const input = { manifestId: "abcdef", seq: 1234, hash, profileNames: ["P144p30fps16x9", "P240p30fps16x9"] };
  assert.equal(profilesHex(input.profileNames), "fca40bf9c0a6517a");
  assert.equal(bytesToHex(segmentCredentialsMessage(input)), "08a398e7e7a5a545b0b07d9e7e1eab52b4131e0df1621bd53ee6e7550a15465b");
});

test("an empty live-payment segment is signed as personal_sign(keccak256(flattened))", () => {
  const input = { manifestId: "abcd1234", seq: 0, hash: keccak_256(new Uint8Array(0)), profileNames: [] };
  assert.equal(bytesToHex(flattenSegmentCredentials(input)), "6162636431323334" + "00".repeat(32) + "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  assert.equal(
    bytesToHex(signSegmentCredentials(input, secretKeySigner(KEY))),
    "feba249a75cf586bc5c21394780734002811e82db9e17b71f0c41b6ec8716b2061db2004ca191826ce395a1b5a3c4f49b729a22d67e9eb5d3ad9f6e41e213df81b",
  );
});

test("live payment credentials carry the auth token and verify after a protobuf round trip", () => {
  const signer = secretKeySigner(generateSecretKey());
  const authToken = { token: Uint8Array.of(1, 2, 3), sessionId: "s1", expiration: 1_900_000_000 };
  const seg = decodeMessage("SegData", encodeMessage("SegData", livePaymentCredentials({ manifestId: "m1", authToken, signer })));
  assert.equal(Buffer.from(seg.manifestId!).toString(), "m1");
  assert.equal(Buffer.from(seg.profiles!).toString(), "invalid");
  assert.equal(seg.authToken?.sessionId, "s1");
  assert.equal(seg.capabilities, undefined);
  assert.ok(segmentCredentialsValid(seg, [], signer.address));
  assert.equal(segmentCredentialsValid({ ...seg, manifestId: new TextEncoder().encode("m2") }, [], signer.address), false);
  assert.equal(segmentCredentialsValid(seg, [], secretKeySigner(generateSecretKey()).address), false);
});
