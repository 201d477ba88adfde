// How many tickets pay a fee, given the credit a session already holds (go-livepeer
// server/segment_rpc.go newBalanceUpdate + core/accounting.go StageUpdate).
import { Rational } from "./rational.ts";

export interface TicketCount {
  /** 0 when the existing credit already covers the fee (the remote signer answers 482). */
  numTickets: number;
  /** numTickets x EV: the credit the tickets add. */
  newCredit: Rational;
  /** Balance after paying: existing credit + new credit - fee (only when numTickets > 0). */
  balanceAfter: Rational;
}

/**
 * Tickets of value `ev` needed so that `balance` covers `fee`. The target is max(fee, ev): an
 * orchestrator wants a balance of at least one ticket's EV. A zero EV buys nothing (0 tickets).
 */
export function ticketsForFee(fee: Rational, balance: Rational, ev: Rational): TicketCount {
  const target = ev.cmp(fee) > 0 ? ev : fee;
  if (balance.cmp(target) >= 0 || ev.sign() <= 0) {
    return { numTickets: 0, newCredit: Rational.ZERO, balanceAfter: balance };
  }
  const n = target.sub(balance).div(ev).ceil();
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${n} tickets: EV far too small for this fee`);
  const newCredit = ev.mul(Rational.of(n));
  return { numTickets: Number(n), newCredit, balanceAfter: balance.add(newCredit).sub(fee) };
}
