import assert from "node:assert/strict";
import { test } from "node:test";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { parseAddress } from "./address.ts";
import { MAX_WIN_PROB, ticketAuxData, ticketEV, ticketHash, winProbability, type Ticket } from "./ticket.ts";

const ZERO20 = new Uint8Array(20);
const ZERO32 = new Uint8Array(32);
const NO_ROUND = { creationRound: 0, creationRoundBlockHash: ZERO32 };
const base: Ticket = { recipient: ZERO20, sender: ZERO20, faceValue: 0n, winProb: 0n, senderNonce: 0, recipientRandHash: ZERO32, expiration: NO_ROUND };
const BLOCK_HASH = hexToBytes("41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d");

// The vectors of go-livepeer pm/ticket_test.go TestHash.
const GO_VECTORS: Array<[string, Partial<Ticket>]> = [
  ["e1393fc7f6de093780674022f96cb8e3872235167d037c04d554e58c0e63d280", { senderNonce: 0xffffffff }],
  ["ce0918ba94518293e9712effbe5fca4f1f431089833a5b8c257cb1e024595f68", { senderNonce: 1 }],
  ["87ef13f2d37e4d5352a01d3c77b8179d80e0887f1953bfabfd0bfd7b0f689ddd", { faceValue: 1n, winProb: 500n }],
  ["aa4b35071043587992ac8b9dd1b2cf1d8311130e6458cf0b2342484e21af5f5b", { faceValue: 500n, winProb: 1n }],
  ["81e353ae39046e2b77b9f996abbaeed527fda559b61ef90f299c4499dd508ccc", { recipient: parseAddress("0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F") }],
  ["be5eaf9a49a39540b9bb02f1a21904f61324a29819e2c032824bfaa10c100b17", { recipientRandHash: BLOCK_HASH }],
  ["e502907c16036ab3d11b78c5a2e93c20f3d6415c67f91de4ed01348182b3b2e2", { expiration: { creationRound: 10, creationRoundBlockHash: BLOCK_HASH } }],
];

test("ticket hashes equal go-livepeer's TestHash vectors", () => {
  for (const [want, fields] of GO_VECTORS) assert.equal(bytesToHex(ticketHash({ ...base, ...fields })), want);
});

test("aux data is empty only when both the round and its block hash are zero (go TestAuxData)", () => {
  const blk = hexToBytes("7624778dedc75f8b322b9fa1632a610d40b85e106c7d9bf0e743a9ce291b9c6f");
  assert.equal(bytesToHex(ticketAuxData({ creationRound: 0, creationRoundBlockHash: blk })), "00".repeat(32) + bytesToHex(blk));
  assert.equal(bytesToHex(ticketAuxData({ creationRound: 5, creationRoundBlockHash: ZERO32 })), "00".repeat(31) + "05" + "00".repeat(32));
  assert.equal(bytesToHex(ticketAuxData({ creationRound: 5, creationRoundBlockHash: new Uint8Array(0) })), "00".repeat(31) + "05" + "00".repeat(32));
  assert.equal(ticketAuxData(NO_ROUND).length, 0);
  assert.equal(bytesToHex(ticketAuxData({ creationRound: 5, creationRoundBlockHash: blk })), "00".repeat(31) + "05" + bytesToHex(blk));
});

test("changing any field changes the hash", () => {
  const h = bytesToHex(ticketHash(base));
  for (const f of GO_VECTORS.map(([, fields]) => fields)) assert.notEqual(bytesToHex(ticketHash({ ...base, ...f })), h);
});

test("EV is exactly faceValue x winProb / (2^256-1) (go TestEV)", () => {
  assert.equal(ticketEV(1000n, MAX_WIN_PROB / 2n).toFixed(0), "500");
  assert.equal(ticketEV(1000n, 0n).toString(), "0");
  assert.equal(ticketEV(1000n, MAX_WIN_PROB).toString(), "1000");
  assert.equal(ticketEV(0n, 999n).toString(), "0");
  // Exact, not rounded: 3 x (2^256-1)/3 / (2^256-1) = 1 (2^256-1 is divisible by 3).
  assert.equal(ticketEV(3n, MAX_WIN_PROB / 3n).toString(), "1");
  assert.equal(ticketEV(1n, 1n).toString(), `1/${MAX_WIN_PROB}`);
  assert.equal(winProbability(MAX_WIN_PROB / 4n).toFixed(2), "0.25");
});

test("a nonce beyond uint32 is refused", () => {
  assert.throws(() => ticketHash({ ...base, senderNonce: 2 ** 32 }), RangeError);
});
