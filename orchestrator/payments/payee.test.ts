import assert from "node:assert/strict";
import { test } from "node:test";
import { randomBytes } from "node:crypto";
import pino from "pino";
import { decodeMessage, encodeMessage, type Payment, type PriceInfo } from "../../protocol/messages.ts";
import { checksumAddress } from "../../protocol/payments/address.ts";
import { generateSecretKey, secretKeySigner, type MessageSigner } from "../../protocol/payments/personal-sign.ts";
import { Rational } from "../../protocol/payments/rational.ts";
import { isWinningTicket, recipientRand } from "../../protocol/payments/recipient.ts";
import { ticketEV } from "../../protocol/payments/ticket.ts";
import { createTicketBatch } from "../../protocol/payments/ticket-batch.ts";
import { decodeTicketParams, type TicketParams } from "../../protocol/payments/ticket-params.ts";
import { uintToMinimalBytes } from "../../protocol/payments/uint256.ts";
import { SimulatedL1Clock } from "./l1-clock.ts";
import { AFTER_REJECTED_TICKET, Payee } from "./payee.ts";

const PRICE: PriceInfo = { pricePerUnit: 3, pixelsPerUnit: 1 };

function setup() {
  const secret = randomBytes(32);
  const clock = new SimulatedL1Clock();
  const payee = new Payee({ log: pino({ level: "silent" }), clock, recipientSecret: secret });
  const gateway = secretKeySigner(generateSecretKey());
  const sender = checksumAddress(gateway.address);
  const params = decodeTicketParams(payee.ticketParams(gateway.address, { pricePerUnit: 3, pixelsPerUnit: 1 }));
  const ev = ticketEV(params.faceValue, params.winProb);
  const pay = (lastNonce: number, count: number, opts: { signer?: MessageSigner; params?: TicketParams; price?: PriceInfo } = {}): Payment =>
    // Through the wire format, as a gateway's header would arrive.
    decodeMessage("Payment", encodeMessage("Payment", createTicketBatch({ params: opts.params ?? params, expiration: (opts.params ?? params).expiration, signer: opts.signer ?? gateway, lastNonce, count, expectedPrice: opts.price ?? PRICE }).payment));
  return { payee, clock, secret, gateway, sender, params, ev, pay };
}

test("params carry go's defaults: face value 100 x 8 gwei, win probability for that EV, expiry 40 blocks out, a creation round", () => {
  const { payee, params, clock } = setup();
  assert.equal(params.faceValue, 800_000_000_000n);
  assert.equal(params.recipient.length, 20);
  assert.equal(checksumAddress(params.recipient), payee.addressText);
  assert.equal(params.expirationBlock, clock.block() + 40n);
  assert.ok(params.expiration.creationRound > 0 && params.expiration.creationRoundBlockHash.some((b) => b !== 0), "aux data is used");
  assert.equal(payee.ticketParams(randomBytes(20), { pricePerUnit: 0, pixelsPerUnit: 1 }).faceValue?.length ?? 0, 0, "free work: face value 0");
});

test("good tickets credit their EV to (sender, balance key)", () => {
  const { payee, sender, ev, pay } = setup();
  const r = payee.receive(pay(0, 3), "27_model");
  assert.equal(r.error, undefined);
  assert.equal(r.accepted, 3);
  assert.equal(r.sender, sender);
  assert.equal(payee.balances.balance(sender, "27_model").toString(), ev.mul(Rational.of(3)).toString());
  assert.equal(payee.view().senders[sender]!["27_model"]!.credited, "24000000000");
  assert.ok(payee.sufficientBalance(sender, "27_model"));
  assert.ok(!payee.sufficientBalance(sender, "other"));
});

test("a reused nonce is refused with go's text and not credited; later tickets of that payment are not credited either", () => {
  const { payee, sender, ev, pay } = setup();
  payee.receive(pay(0, 2), "k");
  const again = payee.receive(pay(1, 2), "k"); // nonces 2 (reused) and 3 (fresh)
  assert.equal(again.error, `invalid ticket senderNonce: already seen sender=${sender} nonce=2`);
  assert.equal(again.accepted, 0);
  assert.equal(payee.balances.balance(sender, "k").toString(), ev.mul(Rational.of(2)).toString());
  // Each accepted ticket wins with probability EV / face value (1 in 100 here): not asserted.
  const { winning, ...counts } = payee.view().senders[sender]!.k!.tickets;
  assert.deepEqual(counts, { received: 4, accepted: 2, rejected: { "ticket already used": 1, [AFTER_REJECTED_TICKET]: 1 } });
  assert.ok(winning <= 2);
});

test("a tampered face value breaks the rand commitment: fatal, nothing credited", () => {
  const { payee, sender, pay } = setup();
  const p = pay(0, 2);
  p.ticketParams!.faceValue = uintToMinimalBytes(900_000_000_000n);
  const r = payee.receive(p, "k");
  assert.equal(r.error, "invalid recipientRand for ticket recipientRandHash");
  assert.equal(payee.balances.balance(sender, "k").toString(), "0");
  assert.deepEqual(payee.view().senders[sender]!.k!.tickets.rejected, { "invalid recipientRand for ticket recipientRandHash": 1, [AFTER_REJECTED_TICKET]: 1 });
});

test("a payment claiming another price than the params were made for is fatal", () => {
  const { payee, pay } = setup();
  assert.equal(payee.receive(pay(0, 1, { price: { pricePerUnit: 1, pixelsPerUnit: 1 } }), "k").error, "invalid recipientRand for ticket recipientRandHash");
});

test("tickets signed by someone else than the payment's sender fail the signature check", () => {
  const { payee, gateway, sender, pay } = setup();
  const p = pay(0, 1, { signer: secretKeySigner(generateSecretKey()) });
  p.sender = gateway.address; // claim to be the gateway the params were made for
  const r = payee.receive(p, "k");
  // The rand is derived with the claimed sender, so the commitment holds and the signature is what fails.
  assert.equal(r.error, "invalid ticket signature");
  assert.equal(payee.balances.balance(sender, "k").toString(), "0");
});

test("tickets made with expired params are refused (TicketParams expired), not credited", () => {
  const { payee, clock, sender, pay } = setup();
  clock.advance(40n);
  const r = payee.receive(pay(0, 1), "k");
  assert.equal(r.error, "TicketParams expired");
  assert.equal(payee.balances.balance(sender, "k").toString(), "0");
});

test("a payment with tickets but no expected price, or no sender, is refused; an empty payment credits nothing", () => {
  const { payee, pay } = setup();
  const noPrice = pay(0, 1);
  delete noPrice.expectedPrice;
  assert.match(payee.receive(noPrice, "k").error ?? "", /invalid expected price sent with payment err="expected price is nil"/);
  const noSender = pay(1, 1);
  noSender.sender = new Uint8Array(0);
  assert.equal(payee.receive(noSender, "k").error, "Could not find Sender for payment");
  const empty = payee.receive({}, "k");
  assert.deepEqual([empty.error, empty.accepted, empty.sender], [undefined, 0, "0x0000000000000000000000000000000000000000"]);
});

test("a winning ticket is counted with its face value", () => {
  const { payee, secret, gateway, sender, params, pay } = setup();
  const rand = recipientRand(secret, { seed: params.seed, sender: gateway.address, faceValue: params.faceValue, winProb: params.winProb, expirationBlock: params.expirationBlock, price: Rational.of(3), expiration: params.expiration });
  // Win probability is 1/100: look for a nonce whose ticket wins.
  let nonce = 0;
  for (;;) {
    const sig = pay(nonce, 1).ticketSenderParams![0]!.sig!;
    if (isWinningTicket(sig, rand, params.winProb)) break;
    nonce++;
    assert.ok(nonce < 5_000, "no winning ticket in 5000 nonces");
  }
  const r = payee.receive(pay(nonce, 1), "k");
  assert.equal(r.error, undefined);
  const k = payee.view().senders[sender]!.k!;
  assert.equal(k.tickets.winning, 1);
  assert.equal(k.winningFaceValue, "800000000000");
});

test("debitIfCovered refuses a fee above the balance and debits nothing", () => {
  const { payee, sender, ev, pay } = setup();
  payee.receive(pay(0, 1), "mid");
  assert.deepEqual(payee.debitIfCovered(sender, "mid", ev.mul(Rational.of(2))), { ok: false, balance: ev });
  assert.deepEqual(payee.debitIfCovered(sender, "mid", Rational.of(1)), { ok: true });
  assert.equal(payee.balances.balance(sender, "mid").toString(), ev.sub(Rational.of(1)).toString());
  assert.equal(payee.view().senders[sender]!.mid!.insufficientBalance, 1);
});
