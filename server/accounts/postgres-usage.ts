// The usage store on PostgreSQL: idempotent inserts that update the per-key spend rollups in the same transaction.
import { utcDayStart, utcMonthStart } from "./pricing.ts";
import type { Sql } from "./postgres-schema.ts";
import type { NewUsageRecord, UsageGroup, UsageGroupBy, UsageQuery, UsageRecord, UsageStore } from "./types.ts";

interface UsageDbRow {
  id: number; ts: number; kind: "batch" | "stream"; key_id: string; pipeline: string; model: string | null;
  stream_id: string | null; request_id: string | null; units: number; duration_ms: number;
  orchestrator: string | null; orchestrator_cost_wei: string; paid_wei: string; charge_micros: number; currency: string;
}

function usageFromDb(r: UsageDbRow): UsageRecord {
  return {
    id: r.id, ts: r.ts, kind: r.kind, keyId: r.key_id, pipeline: r.pipeline, model: r.model, streamId: r.stream_id,
    requestId: r.request_id, units: r.units, durationMs: r.duration_ms, orchestrator: r.orchestrator,
    orchestratorCostWei: r.orchestrator_cost_wei, paidWei: r.paid_wei, chargeMicros: r.charge_micros, currency: r.currency,
  };
}

export class PostgresUsageStore implements UsageStore {
  constructor(private readonly sql: Sql) {}

  /** Committed when it resolves. A request id recorded before returns the stored record and changes nothing. */
  async insert(u: NewUsageRecord): Promise<UsageRecord> {
    // One statement (one round trip, its own transaction): the record and its day/month rollups
    // commit together, or neither does. A request id already recorded inserts nothing (and so
    // rolls nothing up); a concurrent insert of the same id waits for the first to commit.
    const [r] = await this.sql<UsageDbRow[]>`
      WITH ins AS (
        INSERT INTO usage (ts, kind, key_id, pipeline, model, stream_id, request_id, units, duration_ms, orchestrator,
          orchestrator_cost_wei, paid_wei, charge_micros, currency)
        VALUES (${u.ts}, ${u.kind}, ${u.keyId}, ${u.pipeline}, ${u.model}, ${u.streamId}, ${u.requestId}, ${u.units}, ${u.durationMs},
          ${u.orchestrator}, ${u.orchestratorCostWei}::numeric, ${u.paidWei}::numeric, ${u.chargeMicros}, ${u.currency})
        ON CONFLICT (request_id) WHERE request_id IS NOT NULL DO NOTHING
        RETURNING *
      ), rolled AS (
        INSERT INTO usage_rollup (key_id, period, period_start, charge_micros, records)
        SELECT ins.key_id, p.period, p.period_start, ins.charge_micros, 1
        FROM ins CROSS JOIN (VALUES ('day', ${utcDayStart(u.ts)}::bigint), ('month', ${utcMonthStart(u.ts)}::bigint)) AS p(period, period_start)
        ON CONFLICT (key_id, period, period_start)
        DO UPDATE SET charge_micros = usage_rollup.charge_micros + excluded.charge_micros, records = usage_rollup.records + 1
      )
      SELECT * FROM ins`;
    if (r) return usageFromDb(r);
    const [existing] = await this.sql<UsageDbRow[]>`SELECT * FROM usage WHERE request_id = ${u.requestId}`;
    if (!existing) throw new Error("usage insert returned no row");
    return usageFromDb(existing);
  }

  async findByRequest(requestId: string): Promise<UsageRecord | undefined> {
    const [r] = await this.sql<UsageDbRow[]>`SELECT * FROM usage WHERE request_id = ${requestId}`;
    return r && usageFromDb(r);
  }

  private where(q: UsageQuery): { sql: string; vals: Array<string | number> } {
    const vals: Array<string | number> = [q.from, q.to];
    const where = ["ts >= $1", "ts < $2"];
    if (q.keyId !== undefined) { vals.push(q.keyId); where.push(`key_id = $${vals.length}`); }
    if (q.pipeline !== undefined) { vals.push(q.pipeline); where.push(`pipeline = $${vals.length}`); }
    return { sql: where.join(" AND "), vals };
  }

  async list(q: UsageQuery): Promise<UsageRecord[]> {
    const { sql, vals } = this.where(q);
    const limit = Math.max(1, Math.min(q.limit ?? 10_000, 100_000));
    const rows = await this.sql.unsafe<UsageDbRow[]>(`SELECT * FROM usage WHERE ${sql} ORDER BY ts, id LIMIT $${vals.length + 1}`, [...vals, limit]);
    return rows.map(usageFromDb);
  }

  async group(q: UsageQuery, by: UsageGroupBy): Promise<UsageGroup[]> {
    const { sql, vals } = this.where(q);
    const expr = by === "day" ? "to_char(to_timestamp(ts / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')" : by === "pipeline" ? "pipeline" : "key_id";
    const rows = await this.sql.unsafe<{ grp: string; records: number; units: number; duration_ms: number; wei: string; paid: string; charge: number }[]>(
      `SELECT ${expr} AS grp, COUNT(*)::bigint AS records, COALESCE(SUM(units), 0)::bigint AS units, COALESCE(SUM(duration_ms), 0)::bigint AS duration_ms,
              COALESCE(SUM(orchestrator_cost_wei), 0)::text AS wei, COALESCE(SUM(paid_wei), 0)::text AS paid, COALESCE(SUM(charge_micros), 0)::bigint AS charge
         FROM usage WHERE ${sql} GROUP BY grp ORDER BY grp`,
      vals,
    );
    return rows.map((r) => ({
      group: r.grp, records: r.records, units: r.units, durationMs: r.duration_ms, orchestratorCostWei: r.wei, paidWei: r.paid, chargeMicros: r.charge,
    }));
  }

  async sumCharges(keyId: string, from: number, to: number): Promise<number> {
    const [r] = await this.sql<{ total: number }[]>`SELECT COALESCE(SUM(charge_micros), 0)::bigint AS total FROM usage WHERE key_id = ${keyId} AND ts >= ${from} AND ts < ${to}`;
    return r!.total;
  }

  async spentSince(keyId: string, dayStart: number, monthStart: number): Promise<{ day: number; month: number }> {
    const [r] = await this.sql<{ day: number; month: number }[]>`
      SELECT COALESCE(SUM(charge_micros) FILTER (WHERE period = 'day' AND period_start >= ${dayStart}), 0)::bigint AS day,
             COALESCE(SUM(charge_micros) FILTER (WHERE period = 'month' AND period_start >= ${monthStart}), 0)::bigint AS month
        FROM usage_rollup WHERE key_id = ${keyId} AND ((period = 'day' AND period_start >= ${dayStart}) OR (period = 'month' AND period_start >= ${monthStart}))`;
    return r!;
  }
}
