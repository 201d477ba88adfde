import assert from "node:assert/strict";
import { test } from "node:test";
import { Rational } from "./rational.ts";
import { MAX_WIN_PROB } from "./ticket.ts";
import { checkTicketParams, decodeTicketParams, type TicketParams } from "./ticket-params.ts";
import { uintToMinimalBytes } from "./uint256.ts";

const limits = { maxTicketEV: Rational.of(1000), maxTotalEV: Rational.of(5000) };
const params = (over: Partial<TicketParams> = {}): TicketParams => ({
  recipient: new Uint8Array(20).fill(1),
  faceValue: 100_000n,
  winProb: MAX_WIN_PROB / 1000n, // EV ~ 100
  recipientRandHash: new Uint8Array(32).fill(2),
  seed: 7n,
  expirationBlock: 140n,
  expiration: { creationRound: 0, creationRoundBlockHash: new Uint8Array(32) },
  ...over,
});

test("decoding pads short fields and reads empty ones as zero, as go's pmTicketParams", () => {
  const p = decodeTicketParams({ recipient: Uint8Array.of(5), faceValue: uintToMinimalBytes(1000n), recipientRandHash: Uint8Array.of(9) });
  assert.equal(p.recipient.length, 20);
  assert.equal(p.recipient[19], 5);
  assert.equal(p.faceValue, 1000n);
  assert.equal(p.winProb, 0n);
  assert.equal(p.recipientRandHash.length, 32);
  assert.equal(p.recipientRandHash[31], 9);
  assert.equal(p.expiration.creationRound, 0);
});

test("params are expired when the expiration block is at most one block ahead", () => {
  assert.deepEqual(checkTicketParams(params(), 138n, limits), { ok: true });
  const v = checkTicketParams(params(), 139n, limits);
  assert.equal(v.ok, false);
  assert.equal(!v.ok && v.expired, true);
});

test("expiration block 0, EV at or above face value, or above the caps are refused, not expired", () => {
  for (const [p, n] of [
    [params({ expirationBlock: 0n }), 1],
    [params({ winProb: MAX_WIN_PROB }), 1],
    [params({ faceValue: 10_000_000n }), 1],
    [params(), 51],
  ] as const) {
    const v = checkTicketParams(p, 0n, limits, n);
    assert.equal(v.ok, false, JSON.stringify(v));
    assert.equal(!v.ok && v.expired, false);
  }
  assert.equal(checkTicketParams(params(), 0n, limits, 50).ok, true);
});

test("zero-EV params pass (go returns before the EV checks)", () => {
  assert.equal(checkTicketParams(params({ faceValue: 0n, winProb: 0n }), 0n, limits).ok, true);
});
