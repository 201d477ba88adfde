// Spend caps: would more usage push a key over its daily or monthly cap? With in-flight reservations.
import { utcDayStart, utcMonthStart } from "./pricing.ts";
import type { ApiKey, UsageStore } from "./types.ts";

export type SpendCap = "daily" | "monthly";

export type SpendDecision =
  | {
      ok: true;
      spentTodayMicros: number;
      spentThisMonthMicros: number;
      /** null = no cap. */
      remainingDailyMicros: number | null;
      remainingMonthlyMicros: number | null;
      /** With reserve: call once the usage is recorded (or the request failed). Otherwise a no-op. */
      release: () => void;
    }
  | {
      ok: false;
      /** The cap to report (monthly wins when both would be exceeded: it resets later). */
      cap: SpendCap;
      exceeded: SpendCap[];
      capMicros: number;
      spentMicros: number;
      projectedMicros: number;
      /** When the reported cap resets (ms). */
      resetsAt: number;
      message: string;
    };

export interface SpendCaps {
  dailyCapMicros: number | null;
  monthlyCapMicros: number | null;
}

/**
 * The spend reserved by requests in flight, per key. One process keeps it in memory
 * (LocalSpendHoldings); a cluster keeps it where every node sees it atomically (server/cluster).
 */
export interface SpendHoldings {
  /**
   * Taken before the committed spend is read: lets `hold` also count reservations released
   * (because their usage was committed) after this point, which the read may have missed.
   */
  mark(keyId: string): Promise<string>;
  /**
   * Atomically: held = reservations in flight (plus those released since `mark`); when
   * spent + held + projected stays within the caps and `reserve`, holds `projected` more.
   */
  hold(keyId: string, mark: string, spent: { day: number; month: number }, caps: SpendCaps, projectedMicros: number, reserve: boolean): Promise<{ held: number; ok: boolean; release: () => void }>;
}

/** The held amounts of this process (one node: exactly Wharf's behaviour without a cluster). */
export class LocalSpendHoldings implements SpendHoldings {
  private readonly reservations = new Map<string, number>();

  async mark(): Promise<string> {
    return "";
  }

  async hold(keyId: string, _mark: string, spent: { day: number; month: number }, caps: SpendCaps, projectedMicros: number, reserve: boolean) {
    const held = this.reservations.get(keyId) ?? 0;
    const ok = exceededCaps(caps, spent.day + held, spent.month + held, projectedMicros).length === 0;
    let release = () => {};
    if (ok && reserve && projectedMicros > 0) {
      this.reservations.set(keyId, held + projectedMicros);
      let done = false;
      release = () => {
        if (done) return;
        done = true;
        const left = (this.reservations.get(keyId) ?? 0) - projectedMicros;
        if (left <= 0) this.reservations.delete(keyId);
        else this.reservations.set(keyId, left);
      };
    }
    return { held, ok, release };
  }
}

/** Which caps `projectedMicros` more would pass; monthly first (it resets later, so it is the one to report). */
export function exceededCaps(caps: SpendCaps, spentDay: number, spentMonth: number, projectedMicros: number): SpendCap[] {
  const exceeded: SpendCap[] = [];
  if (caps.monthlyCapMicros !== null && spentMonth + projectedMicros > caps.monthlyCapMicros) exceeded.push("monthly");
  if (caps.dailyCapMicros !== null && spentDay + projectedMicros > caps.dailyCapMicros) exceeded.push("daily");
  return exceeded;
}

export class SpendGuard {
  constructor(
    private readonly usage: Pick<UsageStore, "spentSince">,
    private readonly currency: string,
    private readonly now: () => number,
    private readonly holdings: SpendHoldings = new LocalSpendHoldings(),
  ) {}

  /**
   * Cost-explosion protection: would `projectedMicros` more push the key over its
   * daily (since 00:00 UTC) or monthly (since the 1st, 00:00 UTC) cap? Charged
   * usage plus in-flight reservations count as spent. With `reserve`, the projected
   * amount is held until `release()`.
   */
  async check(key: Pick<ApiKey, "id" | "dailyCapMicros" | "monthlyCapMicros">, projectedMicros: number, opts: { reserve?: boolean } = {}): Promise<SpendDecision> {
    const t = this.now();
    const dayStart = utcDayStart(t);
    const monthStart = utcMonthStart(t);
    const uncapped = key.dailyCapMicros === null && key.monthlyCapMicros === null;
    const mark = await this.holdings.mark(key.id);
    const spent = uncapped ? { day: 0, month: 0 } : await this.usage.spentSince(key.id, dayStart, monthStart);
    const { held, ok, release } = await this.holdings.hold(key.id, mark, spent, key, projectedMicros, opts.reserve === true);
    const spentDay = spent.day + held;
    const spentMonth = spent.month + held;
    const exceeded = ok ? [] : exceededCaps(key, spentDay, spentMonth, projectedMicros);
    if (!ok) {
      const cap = exceeded[0] ?? (key.monthlyCapMicros !== null ? "monthly" : "daily");
      const d = new Date(t);
      const resetsAt = cap === "monthly" ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) : dayStart + 86_400_000;
      const capMicros = cap === "monthly" ? key.monthlyCapMicros! : key.dailyCapMicros!;
      const spentMicros = cap === "monthly" ? spentMonth : spentDay;
      return {
        ok: false, cap, exceeded: exceeded.length ? exceeded : [cap], capMicros, spentMicros, projectedMicros, resetsAt,
        message: `${cap} spend cap of ${fmt(capMicros)} ${this.currency} would be exceeded (spent ${fmt(spentMicros)}, this request ~${fmt(projectedMicros)}); resets ${new Date(resetsAt).toISOString()}`,
      };
    }
    return {
      ok: true,
      spentTodayMicros: spentDay,
      spentThisMonthMicros: spentMonth,
      remainingDailyMicros: key.dailyCapMicros === null ? null : key.dailyCapMicros - spentDay - projectedMicros,
      remainingMonthlyMicros: key.monthlyCapMicros === null ? null : key.monthlyCapMicros - spentMonth - projectedMicros,
      release,
    };
  }
}

function fmt(micros: number): string {
  return (micros / 1_000_000).toFixed(2);
}
