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

export class SpendGuard {
  private readonly reservations = new Map<string, number>();

  constructor(
    private readonly usage: Pick<UsageStore, "sumCharges">,
    private readonly currency: string,
    private readonly now: () => number,
  ) {}

  /**
   * Cost-explosion protection: would `projectedMicros` more push the key over its
   * daily (since 00:00 UTC) or monthly (since the 1st, 00:00 UTC) cap? Charged
   * usage plus in-flight reservations of this process count as spent. With
   * `reserve`, the projected amount is held until `release()`.
   */
  async check(key: Pick<ApiKey, "id" | "dailyCapMicros" | "monthlyCapMicros">, projectedMicros: number, opts: { reserve?: boolean } = {}): Promise<SpendDecision> {
    const t = this.now();
    const dayStart = utcDayStart(t);
    const monthStart = utcMonthStart(t);
    const pending = this.reservations.get(key.id) ?? 0;
    const [day, month] = await Promise.all([
      key.dailyCapMicros === null ? Promise.resolve(0) : this.usage.sumCharges(key.id, dayStart, Number.MAX_SAFE_INTEGER),
      key.monthlyCapMicros === null ? Promise.resolve(0) : this.usage.sumCharges(key.id, monthStart, Number.MAX_SAFE_INTEGER),
    ]);
    const spentDay = day + pending;
    const spentMonth = month + pending;
    const exceeded: SpendCap[] = [];
    if (key.monthlyCapMicros !== null && spentMonth + projectedMicros > key.monthlyCapMicros) exceeded.push("monthly");
    if (key.dailyCapMicros !== null && spentDay + projectedMicros > key.dailyCapMicros) exceeded.push("daily");
    if (exceeded.length) {
      const cap = exceeded[0]!;
      const d = new Date(t);
      const resetsAt = cap === "monthly" ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) : dayStart + 86_400_000;
      const capMicros = cap === "monthly" ? key.monthlyCapMicros! : key.dailyCapMicros!;
      const spentMicros = cap === "monthly" ? spentMonth : spentDay;
      return {
        ok: false, cap, exceeded, capMicros, spentMicros, projectedMicros, resetsAt,
        message: `${cap} spend cap of ${fmt(capMicros)} ${this.currency} would be exceeded (spent ${fmt(spentMicros)}, this request ~${fmt(projectedMicros)}); resets ${new Date(resetsAt).toISOString()}`,
      };
    }
    let release = () => {};
    if (opts.reserve && projectedMicros > 0) {
      this.reservations.set(key.id, pending + projectedMicros);
      let done = false;
      release = () => {
        if (done) return;
        done = true;
        const left = (this.reservations.get(key.id) ?? 0) - projectedMicros;
        if (left <= 0) this.reservations.delete(key.id);
        else this.reservations.set(key.id, left);
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
