// Money over days, from the usage ledger: charge, orchestrator cost and margin per UTC day in
// total, by pipeline and for the keys that spent most; and the keys near their spend caps.
import type { Accounts } from "../accounts/index.ts";
import { utcDayStart, utcMonthStart } from "../accounts/pricing.ts";
import type { UsageGroup } from "../accounts/types.ts";

/** Keys shown with their own daily series; the biggest spenders of the range. */
const TOP_KEYS = 10;
/** A key at this share of a cap or more is "near" it. */
export const NEAR_CAP_SHARE = 0.8;

export interface DayMoney {
  day: string;
  charge: number;
  cost: number;
  margin: number;
  records: number;
}

export interface KeyNearCap {
  keyId: string;
  name: string;
  cap: "daily" | "monthly";
  capAmount: number;
  spent: number;
  share: number;
}

export interface MoneyHistory {
  currency: string;
  days: string[];
  total: DayMoney[];
  byPipeline: Record<string, DayMoney[]>;
  byKey: Record<string, DayMoney[]>;
  nearCaps: KeyNearCap[];
}

export async function moneyHistory(accounts: Accounts, days: number, now = Date.now()): Promise<MoneyHistory> {
  const to = utcDayStart(now) + 86_400_000;
  const from = to - days * 86_400_000;
  const dayNames: string[] = [];
  for (let t = from; t < to; t += 86_400_000) dayNames.push(new Date(t).toISOString().slice(0, 10));
  const ethPrice = accounts.priceBook.config.ethPrice;
  const perDay = (groups: UsageGroup[]): DayMoney[] => {
    const by = new Map(groups.map((g) => [g.group, g]));
    return dayNames.map((day) => {
      const g = by.get(day);
      const charge = (g?.chargeMicros ?? 0) / 1e6;
      // Cost is what was paid: the EV of the tickets sent (0 for free orchestrators).
      const cost = g ? (Number(g.paidWei) / 1e18) * ethPrice : 0;
      return { day, charge, cost, margin: charge - cost, records: g?.records ?? 0 };
    });
  };
  const range = { from, to };
  const [total, pipelines, keys] = await Promise.all([
    accounts.groupUsage(range, "day"),
    accounts.groupUsage(range, "pipeline"),
    accounts.groupUsage(range, "key"),
  ]);
  const byPipeline: Record<string, DayMoney[]> = {};
  for (const p of pipelines) byPipeline[p.group] = perDay(await accounts.groupUsage({ ...range, pipeline: p.group }, "day"));
  const byKey: Record<string, DayMoney[]> = {};
  for (const k of [...keys].sort((a, b) => b.chargeMicros - a.chargeMicros).slice(0, TOP_KEYS)) {
    byKey[k.group] = perDay(await accounts.groupUsage({ ...range, keyId: k.group }, "day"));
  }
  return { currency: accounts.priceBook.currency, days: dayNames, total: perDay(total), byPipeline, byKey, nearCaps: await keysNearCaps(accounts, now) };
}

/** Keys whose spend today or this month is at NEAR_CAP_SHARE of a cap or more, nearest first. */
export async function keysNearCaps(accounts: Accounts, now = Date.now()): Promise<KeyNearCap[]> {
  const capped = (await accounts.listKeys()).filter((k) => k.dailyCapMicros !== null || k.monthlyCapMicros !== null);
  if (capped.length === 0) return [];
  const [today, month] = await Promise.all([
    accounts.groupUsage({ from: utcDayStart(now), to: now + 1 }, "key"),
    accounts.groupUsage({ from: utcMonthStart(now), to: now + 1 }, "key"),
  ]);
  const spentToday = new Map(today.map((g) => [g.group, g.chargeMicros]));
  const spentMonth = new Map(month.map((g) => [g.group, g.chargeMicros]));
  const out: KeyNearCap[] = [];
  for (const k of capped) {
    const check = (cap: "daily" | "monthly", capMicros: number | null, spentMicros: number) => {
      if (capMicros === null) return;
      const share = capMicros > 0 ? spentMicros / capMicros : 1;
      if (share >= NEAR_CAP_SHARE) out.push({ keyId: k.id, name: k.name, cap, capAmount: capMicros / 1e6, spent: spentMicros / 1e6, share: Math.round(share * 1000) / 1000 });
    };
    check("daily", k.dailyCapMicros, spentToday.get(k.id) ?? 0);
    check("monthly", k.monthlyCapMicros, spentMonth.get(k.id) ?? 0);
  }
  return out.sort((a, b) => b.share - a.share);
}
