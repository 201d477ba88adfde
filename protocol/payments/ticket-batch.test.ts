import assert from "node:assert/strict";
import { test } from "node:test";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { decodeMessage, encodeMessage } from "../messages.ts";
import { parseAddress } from "./address.ts";
import { generateSecretKey, secretKeySigner } from "./personal-sign.ts";
import { MAX_WIN_PROB, ticketHash } from "./ticket.ts";
import { createTicketBatch, lastNonceFor, paymentTickets, pmSessionId, ticketSignatureValid } from "./ticket-batch.ts";
import type { TicketParams } from "./ticket-params.ts";

const KEY = hexToBytes("fad9c8855b740a0b7ed4c221dbad0f33a83a49cad6b3fe8d5817ac83d38b6a19");
const RRH = hexToBytes("41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d");
const params: TicketParams = {
  recipient: parseAddress("0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F"),
  faceValue: 1_000_000_000_000_000n,
  winProb: MAX_WIN_PROB / 1000n,
  recipientRandHash: RRH,
  seed: 0x1234n,
  expirationBlock: 140n,
  expiration: { creationRound: 10, creationRoundBlockHash: hexToBytes("7624778dedc75f8b322b9fa1632a610d40b85e106c7d9bf0e743a9ce291b9c6f") },
};

test("the first ticket of a fresh session has nonce 1 and the signature go's formula gives", () => {
  const { payment, lastNonce } = createTicketBatch({ params, expiration: params.expiration, signer: secretKeySigner(KEY), lastNonce: 0, count: 1 });
  assert.equal(lastNonce, 1);
  const [t] = paymentTickets(payment);
  assert.equal(t!.ticket.senderNonce, 1);
  assert.equal(bytesToHex(ticketHash(t!.ticket)), "61ee5bd26474af63c39a9ef8c00e4746e80c3d0c8ea770af5f405232662e72a3");
  assert.equal(bytesToHex(t!.sig), "9eafb20a02536609612197e32547eb72f3c04ab304a2a823fd80dccb088e1c181d585cca61f9b10d5daef3036058542b50bd219c1013466415ec444f10e937011b");
});

test("a batch survives protobuf encoding: every ticket verifies, nonces continue from the last one", () => {
  const signer = secretKeySigner(generateSecretKey());
  const price = { pricePerUnit: 150, pixelsPerUnit: 175 };
  const { payment, lastNonce } = createTicketBatch({ params, expiration: params.expiration, signer, lastNonce: 7, count: 3, expectedPrice: price });
  assert.equal(lastNonce, 10);
  const decoded = decodeMessage("Payment", encodeMessage("Payment", payment));
  assert.equal(decoded.ticketParams?.expirationParams, undefined, "go leaves expiration out of ticket_params");
  assert.equal(decoded.expirationParams?.creationRound, 10);
  assert.deepEqual(decoded.expectedPrice?.pricePerUnit, 150);
  const tickets = paymentTickets(decoded);
  assert.deepEqual(tickets.map((t) => t.ticket.senderNonce), [8, 9, 10]);
  assert.ok(tickets.every(ticketSignatureValid));
  assert.equal(tickets[0]!.seed, 0x1234n);
});

test("a tampered ticket no longer verifies", () => {
  const signer = secretKeySigner(generateSecretKey());
  const { payment } = createTicketBatch({ params, expiration: params.expiration, signer, lastNonce: 0, count: 1 });
  const [t] = paymentTickets(payment);
  assert.ok(ticketSignatureValid(t!));
  assert.equal(ticketSignatureValid({ ...t!, ticket: { ...t!.ticket, faceValue: t!.ticket.faceValue + 1n } }), false);
  assert.equal(ticketSignatureValid({ ...t!, ticket: { ...t!.ticket, senderNonce: 2 } }), false);
  const sig = Uint8Array.from(t!.sig);
  sig[5] ^= 0xff;
  assert.equal(ticketSignatureValid({ ...t!, sig }), false);
});

test("big integers are sent as minimal bytes; zero face value is an empty field", () => {
  const { payment } = createTicketBatch({ params: { ...params, faceValue: 0n, winProb: 0n, seed: 1n }, expiration: params.expiration, signer: secretKeySigner(KEY), lastNonce: 0, count: 1 });
  assert.equal(payment.ticketParams!.faceValue!.length, 0);
  assert.deepEqual([...payment.ticketParams!.seed!], [1]);
});

test("nonces continue within a PM session and restart when the recipient rand hash changes", () => {
  const prev = { pmSessionId: pmSessionId(RRH), senderNonce: 12 };
  assert.equal(pmSessionId(RRH), "0x41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d");
  assert.equal(lastNonceFor(prev, RRH), 12);
  assert.equal(lastNonceFor(prev, new Uint8Array(32).fill(3)), 0);
  assert.equal(lastNonceFor(undefined, RRH), 0);
});

test("a batch that would overflow the uint32 nonce is refused", () => {
  assert.throws(() => createTicketBatch({ params, expiration: params.expiration, signer: secretKeySigner(KEY), lastNonce: 0xffffffff, count: 1 }), RangeError);
});
