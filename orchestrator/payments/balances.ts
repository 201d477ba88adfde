// The orchestrator's balances (go-livepeer core/accounting.go Balances): credit per sender and
// balance key (transcoding: the auth token's session id; batch AI: "<capability>_<model>"; live
// video-to-video: the manifest id it handed out), in exact wei fractions, plus the ticket counts
// GET /wharf/payments shows. A balance may go negative: work is debited after it is done.
import { Rational } from "../../protocol/payments/rational.ts";

/** Counts for one (sender, balance key), or for all of them. */
export interface TicketCounts {
  received: number;
  /** Credited (their EV went to the balance). */
  accepted: number;
  /** Not credited, by reason (go-livepeer's texts where it has one). */
  rejected: Record<string, number>;
  /** Valid winning tickets: redeemable on chain for their face value. */
  winning: number;
}

interface Account {
  credited: Rational;
  debited: Rational;
  tickets: TicketCounts;
  winningFaceValue: bigint;
  /** Requests refused (or live sessions closed) because the balance did not cover them. */
  insufficientBalance: number;
}

export interface AccountView {
  /** Wei, rounded to a whole wei (go's FloatString(0)); `exact` has the fractions. */
  credited: string;
  debited: string;
  balance: string;
  exact: { credited: string; debited: string; balance: string };
  tickets: TicketCounts;
  /** Sum of the face values of the winning tickets (what redeeming them would pay). */
  winningFaceValue: string;
  insufficientBalance: number;
}

export interface BalancesView {
  totals: AccountView;
  /** sender (EIP-55) -> balance key -> account. */
  senders: Record<string, Record<string, AccountView>>;
}

const emptyCounts = (): TicketCounts => ({ received: 0, accepted: 0, rejected: {}, winning: 0 });
const emptyAccount = (): Account => ({ credited: Rational.ZERO, debited: Rational.ZERO, tickets: emptyCounts(), winningFaceValue: 0n, insufficientBalance: 0 });

export class Balances {
  /** sender -> balance key -> account, in first-seen order. */
  private readonly accounts = new Map<string, Map<string, Account>>();

  private account(sender: string, key: string): Account {
    let byKey = this.accounts.get(sender);
    if (!byKey) this.accounts.set(sender, (byKey = new Map()));
    let a = byKey.get(key);
    if (!a) byKey.set(key, (a = emptyAccount()));
    return a;
  }

  /** Credit one accepted ticket's EV. */
  credit(sender: string, key: string, ev: Rational): void {
    const a = this.account(sender, key);
    a.credited = a.credited.add(ev);
    a.tickets.received++;
    a.tickets.accepted++;
  }

  /** A ticket that was not credited, and why. */
  reject(sender: string, key: string, reason: string): void {
    const a = this.account(sender, key);
    a.tickets.received++;
    a.tickets.rejected[reason] = (a.tickets.rejected[reason] ?? 0) + 1;
  }

  /** A valid winning ticket (whether or not it was credited). */
  winning(sender: string, key: string, faceValue: bigint): void {
    const a = this.account(sender, key);
    a.tickets.winning++;
    a.winningFaceValue += faceValue;
  }

  debit(sender: string, key: string, fee: Rational): void {
    const a = this.account(sender, key);
    a.debited = a.debited.add(fee);
  }

  insufficient(sender: string, key: string): void {
    this.account(sender, key).insufficientBalance++;
  }

  /** Credited minus debited; zero for an unknown account. */
  balance(sender: string, key: string): Rational {
    const a = this.accounts.get(sender)?.get(key);
    return a ? a.credited.sub(a.debited) : Rational.ZERO;
  }

  view(): BalancesView {
    const total = emptyAccount();
    const senders: BalancesView["senders"] = {};
    for (const [sender, byKey] of this.accounts) {
      const out: Record<string, AccountView> = {};
      for (const [key, a] of byKey) {
        out[key] = accountView(a);
        total.credited = total.credited.add(a.credited);
        total.debited = total.debited.add(a.debited);
        total.tickets.received += a.tickets.received;
        total.tickets.accepted += a.tickets.accepted;
        total.tickets.winning += a.tickets.winning;
        for (const [reason, n] of Object.entries(a.tickets.rejected)) total.tickets.rejected[reason] = (total.tickets.rejected[reason] ?? 0) + n;
        total.winningFaceValue += a.winningFaceValue;
        total.insufficientBalance += a.insufficientBalance;
      }
      senders[sender] = out;
    }
    return { totals: accountView(total), senders };
  }
}

function accountView(a: Account): AccountView {
  const balance = a.credited.sub(a.debited);
  return {
    credited: a.credited.toFixed(0),
    debited: a.debited.toFixed(0),
    balance: balance.toFixed(0),
    exact: { credited: a.credited.toString(), debited: a.debited.toString(), balance: balance.toString() },
    tickets: { ...a.tickets, rejected: { ...a.tickets.rejected } },
    winningFaceValue: a.winningFaceValue.toString(),
    insufficientBalance: a.insufficientBalance,
  };
}
