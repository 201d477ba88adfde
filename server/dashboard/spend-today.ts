// Today's money (the UTC day, as spend caps count it): what customers were charged and what
// orchestrators cost, by pipeline and by key. Read from the ledger at start and every few
// minutes, and kept current in between from the records as they are committed.
import type { UsageGroup, UsageRecord } from "../accounts/types.ts";
import { utcDayStart } from "../accounts/pricing.ts";

/** The ledger is read again this often (corrects anything the running totals missed). */
export const SPEND_RESYNC_MS = 5 * 60_000;
/** Record ids remembered to ignore a record told twice (an idempotent insert returns the existing row). */
const SEEN_IDS = 10_000;

export interface Money {
  /** Charged to customers, currency micro-units. */
  chargeMicros: number;
  /** Orchestrator cost converted at the price book's ethPrice, currency micro-units. */
  costMicros: number;
}

export interface SpendTodayOptions {
  /** Currency units per ETH (the price book's ethPrice). */
  ethPrice: number;
  /** Today's ledger grouped (accounts.groupUsage). */
  group(from: number, to: number, by: "pipeline" | "key"): Promise<UsageGroup[]>;
  now?: () => number;
}

export class SpendToday {
  private day = 0;
  private readonly byPipeline = new Map<string, Money>();
  private readonly byKey = new Map<string, Money>();
  private readonly seen = new Set<number>();
  private resyncing: Promise<void> | undefined;
  private lastResyncAt = 0;
  private readonly now: () => number;

  constructor(private readonly opts: SpendTodayOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Wei (negative for a refund) to currency micro-units (for display: a float is exact enough here). */
  costMicros(wei: string | bigint): number {
    return (Number(wei) / 1e18) * this.opts.ethPrice * 1e6;
  }

  /** A record committed to the ledger. */
  add(rec: UsageRecord): void {
    this.rollOver();
    if (rec.ts < this.day || this.seen.has(rec.id)) return;
    this.seen.add(rec.id);
    if (this.seen.size > SEEN_IDS) this.seen.delete(this.seen.values().next().value!);
    const cost = this.costMicros(rec.paidWei ?? "0"); // what was paid (EV of the tickets sent)
    addTo(this.byPipeline, rec.pipeline, rec.chargeMicros, cost);
    addTo(this.byKey, rec.keyId, rec.chargeMicros, cost);
  }

  /** Reads today's totals from the ledger when due (at start, after midnight, every SPEND_RESYNC_MS). */
  maybeResync(): Promise<void> {
    this.rollOver();
    if (this.resyncing || this.now() - this.lastResyncAt < SPEND_RESYNC_MS) return this.resyncing ?? Promise.resolve();
    this.lastResyncAt = this.now();
    this.resyncing = (async () => {
      const from = this.day;
      const [pipelines, keys] = await Promise.all([this.opts.group(from, from + 86_400_000, "pipeline"), this.opts.group(from, from + 86_400_000, "key")]);
      if (from !== this.day) return; // midnight passed meanwhile
      fill(this.byPipeline, pipelines, this);
      fill(this.byKey, keys, this);
    })().finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  private rollOver(): void {
    const now = this.now();
    if (now >= this.day && now < this.day + 86_400_000) return; // called per record: no Date unless the day changed
    const day = utcDayStart(now);
    if (day === this.day) return;
    this.day = day;
    this.byPipeline.clear();
    this.byKey.clear();
    this.seen.clear();
    this.lastResyncAt = 0;
  }

  total(): Money {
    this.rollOver();
    let chargeMicros = 0;
    let costMicros = 0;
    for (const m of this.byPipeline.values()) {
      chargeMicros += m.chargeMicros;
      costMicros += m.costMicros;
    }
    return { chargeMicros, costMicros };
  }

  pipelines(): ReadonlyMap<string, Money> {
    this.rollOver();
    return this.byPipeline;
  }

  keys(): ReadonlyMap<string, Money> {
    this.rollOver();
    return this.byKey;
  }
}

function addTo(m: Map<string, Money>, k: string, chargeMicros: number, costMicros: number): void {
  const cur = m.get(k) ?? { chargeMicros: 0, costMicros: 0 };
  cur.chargeMicros += chargeMicros;
  cur.costMicros += costMicros;
  m.set(k, cur);
}

function fill(m: Map<string, Money>, groups: UsageGroup[], tally: SpendToday): void {
  m.clear();
  for (const g of groups) m.set(g.group, { chargeMicros: g.chargeMicros, costMicros: tally.costMicros(g.paidWei ?? "0") });
}
