import assert from "node:assert/strict";
import { test } from "node:test";
import { Rational } from "./rational.ts";
import { ticketsForFee } from "./ticket-count.ts";

const R = (n: number, d = 1) => Rational.of(n, d);

test("go-livepeer's live example: 3 wei/s, EV 35; 30 wei then 36 wei of fees", () => {
  const first = ticketsForFee(R(30), Rational.ZERO, R(35));
  assert.equal(first.numTickets, 1);
  assert.equal(first.balanceAfter.toString(), "5");
  const second = ticketsForFee(R(36), first.balanceAfter, R(35));
  assert.equal(second.numTickets, 1);
  assert.equal(second.balanceAfter.toString(), "4");
});

test("the target is max(fee, EV): a fee below one EV still buys one ticket", () => {
  const c = ticketsForFee(R(1), Rational.ZERO, R(35));
  assert.equal(c.numTickets, 1);
  assert.equal(c.balanceAfter.toString(), "34");
});

test("no tickets when the balance already covers max(fee, EV)", () => {
  assert.equal(ticketsForFee(R(1), R(1000), R(35)).numTickets, 0);
  assert.equal(ticketsForFee(R(10), R(35), R(35)).numTickets, 0);
  assert.equal(ticketsForFee(R(10), R(34), R(35)).numTickets, 1);
});

test("the ticket count is the ceiling of the gap over EV, exactly", () => {
  const c = ticketsForFee(R(6000, 7), Rational.ZERO, R(35));
  // 6000/7 / 35 = 24.489... -> 25 tickets; balance 875 - 6000/7 = 125/7.
  assert.equal(c.numTickets, 25);
  assert.equal(c.balanceAfter.toString(), "125/7");
  assert.equal(ticketsForFee(R(70), Rational.ZERO, R(35)).numTickets, 2);
});

test("zero EV buys nothing", () => {
  assert.equal(ticketsForFee(R(10), Rational.ZERO, Rational.ZERO).numTickets, 0);
});
