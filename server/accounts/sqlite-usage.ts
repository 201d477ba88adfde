// The usage store on SQLite: reads and sums on the main connection, inserts through the usage ledger.
import type { DB } from "./sqlite-schema.ts";
import type { NewUsageRecord, UsageGroup, UsageGroupBy, UsageInsertOptions, UsageQuery, UsageRecord, UsageStore } from "./types.ts";
import { usageFromDb, type UsageDbRow } from "./usage-insert.ts";
import type { UsageLedger } from "./usage-ledger.ts";

export class SqliteUsageStore implements UsageStore {
  private readonly sumStmt;
  private readonly byRequestStmt;
  private readonly spentStmt;

  constructor(
    private readonly db: DB,
    private readonly ledger: UsageLedger,
  ) {
    // Reads and the sum below use the main connection; inserts go through the ledger.
    this.sumStmt = db.prepare("SELECT COALESCE(SUM(charge_micros), 0) AS total FROM usage WHERE key_id = ? AND ts >= ? AND ts < ?");
    this.byRequestStmt = db.prepare("SELECT * FROM usage WHERE request_id = ?");
    this.spentStmt = db.prepare(
      `SELECT COALESCE(SUM(CASE WHEN ts >= ? THEN charge_micros END), 0) AS day, COALESCE(SUM(CASE WHEN ts >= ? THEN charge_micros END), 0) AS month
         FROM usage WHERE key_id = ? AND ts >= ?`,
    );
  }

  async findByRequest(requestId: string): Promise<UsageRecord | undefined> {
    const r = this.byRequestStmt.get(requestId) as UsageDbRow | undefined;
    return r && usageFromDb(r);
  }

  /** Committed when it resolves; how soon it is fsynced is the ledger's setting (usage-ledger.ts). */
  insert(u: NewUsageRecord, opts?: UsageInsertOptions): Promise<UsageRecord> {
    return this.ledger.insert(u, opts);
  }

  private where(q: UsageQuery): { sql: string; vals: unknown[] } {
    const where = ["ts >= ?", "ts < ?"];
    const vals: unknown[] = [q.from, q.to];
    if (q.keyId !== undefined) { where.push("key_id = ?"); vals.push(q.keyId); }
    if (q.pipeline !== undefined) { where.push("pipeline = ?"); vals.push(q.pipeline); }
    return { sql: where.join(" AND "), vals };
  }

  async list(q: UsageQuery): Promise<UsageRecord[]> {
    const { sql, vals } = this.where(q);
    const limit = Math.max(1, Math.min(q.limit ?? 10_000, 100_000));
    return (this.db.prepare(`SELECT * FROM usage WHERE ${sql} ORDER BY ts, id LIMIT ?`).all(...vals, limit) as UsageDbRow[]).map(usageFromDb);
  }

  async group(q: UsageQuery, by: UsageGroupBy): Promise<UsageGroup[]> {
    const { sql, vals } = this.where(q);
    const expr = by === "day" ? "strftime('%Y-%m-%d', ts / 1000, 'unixepoch')" : by === "pipeline" ? "pipeline" : "key_id";
    const rows = this.db.prepare(
      `SELECT ${expr} AS grp, COUNT(*) AS records, COALESCE(SUM(units), 0) AS units, COALESCE(SUM(duration_ms), 0) AS duration_ms,
              wei_sum(orchestrator_cost_wei) AS wei, wei_sum(paid_wei) AS paid, COALESCE(SUM(charge_micros), 0) AS charge
         FROM usage WHERE ${sql} GROUP BY grp ORDER BY grp`,
    ).all(...vals) as { grp: string; records: number; units: number; duration_ms: number; wei: string; paid: string; charge: number }[];
    return rows.map((r) => ({
      group: r.grp, records: r.records, units: r.units, durationMs: r.duration_ms, orchestratorCostWei: r.wei, paidWei: r.paid, chargeMicros: r.charge,
    }));
  }

  /** SQLite sums the usage rows (index usage_key_ts): one node's ledger, fast enough without rollups. */
  async spentSince(keyId: string, dayStart: number, monthStart: number): Promise<{ day: number; month: number }> {
    return this.spentStmt.get(dayStart, monthStart, keyId, Math.min(dayStart, monthStart)) as { day: number; month: number };
  }

  async sumCharges(keyId: string, from: number, to: number): Promise<number> {
    return (this.sumStmt.get(keyId, from, to) as { total: number }).total;
  }
}
