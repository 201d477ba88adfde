import assert from "node:assert/strict";
import { test } from "node:test";
import { Rational } from "../../protocol/payments/rational.ts";
import { Balances } from "./balances.ts";

const A = "0x96216849c49358B10257cb55b28eA603c874b05E";
const B = "0x3BadDb1eeE2105893136A3F96c8a963E9C6309d6";

test("credits and debits are kept per sender and balance key, exactly", () => {
  const b = new Balances();
  b.credit(A, "27_model", Rational.of(8_000_000_001, 1));
  b.credit(A, "27_model", Rational.of(1, 3));
  b.credit(A, "session-1", Rational.of(5));
  b.credit(B, "27_model", Rational.of(7));
  b.debit(A, "27_model", Rational.of(1_000_000_000));
  assert.equal(b.balance(A, "27_model").toString(), "21000000004/3");
  assert.equal(b.balance(A, "session-1").toString(), "5");
  assert.equal(b.balance(B, "27_model").toString(), "7");
  assert.equal(b.balance(B, "session-1").toString(), "0", "an unknown account has nothing");
});

test("a balance goes negative when work costs more than was paid (go's DebitFees)", () => {
  const b = new Balances();
  b.credit(A, "k", Rational.of(10));
  b.debit(A, "k", Rational.of(25));
  assert.equal(b.balance(A, "k").toString(), "-15");
  assert.equal(b.view().senders[A]!.k!.balance, "-15");
});

test("the view counts tickets by outcome and reason, rounds to whole wei, and sums the totals", () => {
  const b = new Balances();
  b.credit(A, "k", Rational.of(16_000_000_001, 2));
  b.credit(A, "k", Rational.of(16_000_000_001, 2));
  b.reject(A, "k", "ticket already used");
  b.reject(A, "k", "ticket already used");
  b.reject(B, "m", "TicketParams expired");
  b.winning(A, "k", 800_000_000_000n);
  b.debit(A, "k", Rational.of(1, 3));
  b.insufficient(B, "m");
  const v = b.view();
  assert.deepEqual(v.senders[A]!.k, {
    credited: "16000000001",
    debited: "0",
    balance: "16000000001",
    exact: { credited: "16000000001", debited: "1/3", balance: "48000000002/3" },
    tickets: { received: 4, accepted: 2, rejected: { "ticket already used": 2 }, winning: 1 },
    winningFaceValue: "800000000000",
    insufficientBalance: 0,
  });
  assert.deepEqual(v.totals.tickets, { received: 5, accepted: 2, rejected: { "ticket already used": 2, "TicketParams expired": 1 }, winning: 1 });
  assert.equal(v.totals.credited, "16000000001");
  assert.equal(v.totals.insufficientBalance, 1);
  assert.deepEqual(Object.keys(v.senders), [A, B]);
});

test("half a wei rounds away from zero in the view, as go's FloatString(0)", () => {
  const b = new Balances();
  b.credit(A, "k", Rational.of(5, 2));
  b.debit(A, "k", Rational.of(5));
  const k = b.view().senders[A]!.k!;
  assert.equal(k.credited, "3");
  assert.equal(k.balance, "-3");
  assert.equal(k.exact.balance, "-5/2");
});
