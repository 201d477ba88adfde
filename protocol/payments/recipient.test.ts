import assert from "node:assert/strict";
import { test } from "node:test";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { decodeMessage, encodeMessage, type Payment } from "../messages.ts";
import { generateSecretKey, secretKeySigner } from "./personal-sign.ts";
import { Rational } from "./rational.ts";
import { isWinningTicket, MAX_SENDER_NONCES, recipientRandHash, TicketRecipient, winProbFor } from "./recipient.ts";
import { MAX_WIN_PROB } from "./ticket.ts";
import { createTicketBatch } from "./ticket-batch.ts";
import { decodeTicketParams } from "./ticket-params.ts";

test("recipient_rand_hash is keccak256 of the rand left-padded to 32 bytes (go TestValidateTicket)", () => {
  assert.equal(bytesToHex(recipientRandHash(10n)), "c65a7bb8d6351c1cf70c95a316cc6a92839c986682d98bc35f958f4883f9d2a8");
});

test("win probabilities follow pm/recipient.go (go-livepeer's vectors)", () => {
  assert.equal(winProbFor(100_000_000n, 5n).toString(), "5789604461865809771178549250434395392663499233282028201972879200395660");
  assert.equal(winProbFor(777_000_000n, 5n).toString(), "745122839364969082519761808292714979750772102095499125093034646125570");
  assert.equal(winProbFor(10_001n, 5n).toString(), "57890255593098787833002192285115442382396752657554526567072084795477017120");
  assert.equal(winProbFor(5n, 5n), MAX_WIN_PROB);
  assert.equal(winProbFor(0n, 5n), 0n);
});

test("a ticket wins when keccak256(sig | leftpad32(rand)) < winProb (go TestIsWinningTicket)", () => {
  const sig = new TextEncoder().encode("foo");
  assert.equal(isWinningTicket(sig, 10n, 0n), false);
  assert.equal(isWinningTicket(sig, 10n, MAX_WIN_PROB), true);
  // go's signed example ticket (key fad9..6a19, nonce 1) does not win with rand 10 at winProb (2^256-1)/1000.
  const goSig = hexToBytes("9eafb20a02536609612197e32547eb72f3c04ab304a2a823fd80dccb088e1c181d585cca61f9b10d5daef3036058542b50bd219c1013466415ec444f10e937011b");
  assert.equal(isWinningTicket(goSig, 10n, MAX_WIN_PROB / 1000n), false);
});

function session(priceNum = 3, priceDen = 1) {
  const orch = new TicketRecipient({ address: secretKeySigner(generateSecretKey()).address, ev: 1_000n });
  const sender = secretKeySigner(generateSecretKey());
  const price = Rational.of(priceNum, priceDen);
  const msg = orch.ticketParams(sender.address, price, 100n);
  const params = decodeTicketParams(msg);
  const pay = (lastNonce: number, count: number): Payment =>
    decodeMessage("Payment", encodeMessage("Payment", createTicketBatch({ params, expiration: params.expiration, signer: sender, lastNonce, count, expectedPrice: { pricePerUnit: priceNum, pixelsPerUnit: priceDen } }).payment));
  return { orch, sender, price, params, pay };
}

test("params carry face value EV x 100, expire 40 blocks out, and the tickets paid with them are credited", () => {
  const { orch, params, price, pay } = session();
  assert.equal(params.faceValue, 100_000n);
  assert.equal(params.expirationBlock, 140n);
  const got = orch.receivePayment(pay(0, 3), price, 101n);
  assert.equal(got.rejection, undefined);
  assert.equal(got.accepted, 3);
  // EV is a hair above 1000 wei: winProb is rounded up.
  assert.ok(got.credit.cmp(Rational.of(3000)) >= 0 && got.credit.cmp(Rational.of(3001)) < 0, got.credit.toString());
});

test("a replayed nonce is refused and not credited", () => {
  const { orch, price, pay } = session();
  orch.receivePayment(pay(0, 2), price, 101n);
  const again = orch.receivePayment(pay(1, 2), price, 101n);
  assert.equal(again.rejection, "ticket already used");
  assert.equal(again.accepted, 0);
});

test("a payment claiming another price fails the rand commitment (fatal)", () => {
  const { orch, pay } = session();
  const got = orch.receivePayment(pay(0, 1), Rational.of(4), 101n);
  assert.equal(got.rejection, "invalid recipientRand for ticket recipientRandHash");
  assert.equal(got.fatal, true);
});

test("tickets made with expired params are refused", () => {
  const { orch, price, pay } = session();
  assert.equal(orch.receivePayment(pay(0, 1), price, 140n).rejection, "TicketParams expired");
});

test("a forged signature is refused, tickets of another recipient are fatal", () => {
  const { orch, price, pay } = session();
  const p = pay(0, 1);
  p.ticketSenderParams![0]!.sig = secretKeySigner(generateSecretKey()).sign(Uint8Array.of(1));
  assert.equal(orch.receivePayment(p, price, 101n).rejection, "invalid ticket signature");
  const other = pay(0, 1);
  other.ticketParams!.recipient = new Uint8Array(20).fill(9);
  assert.equal(orch.receivePayment(other, price, 101n).fatal, true);
});

test(`at most ${MAX_SENDER_NONCES} nonces per recipientRand`, () => {
  const { orch, price, pay } = session();
  assert.equal(orch.receivePayment(pay(0, MAX_SENDER_NONCES), price, 101n).accepted, MAX_SENDER_NONCES);
  assert.equal(orch.receivePayment(pay(MAX_SENDER_NONCES, 1), price, 101n).rejection, "too many tickets for one recipientRand");
});

test("price 0 gives free params: zero face value and win probability", () => {
  const orch = new TicketRecipient({ address: new Uint8Array(20).fill(1), ev: 1_000n });
  const p = decodeTicketParams(orch.ticketParams(new Uint8Array(20).fill(2), Rational.ZERO, 0n));
  assert.equal(p.faceValue, 0n);
  assert.equal(p.winProb, 0n);
});
