// Usage rows in SQLite: the group-commit insert shared by the event loop and the ledger thread, and reading rows back.
import type { DB } from "./sqlite-schema.ts";
import type { NewUsageRecord, UsageRecord } from "./types.ts";

export interface UsageDbRow {
  id: number; ts: number; kind: "batch" | "stream"; key_id: string; pipeline: string; model: string | null;
  stream_id: string | null; request_id: string | null; units: number; duration_ms: number;
  orchestrator: string | null; orchestrator_cost_wei: string; paid_wei: string; charge_micros: number; currency: string;
}

export function usageFromDb(r: UsageDbRow): UsageRecord {
  return {
    id: r.id, ts: r.ts, kind: r.kind, keyId: r.key_id, pipeline: r.pipeline, model: r.model, streamId: r.stream_id,
    requestId: r.request_id, units: r.units, durationMs: r.duration_ms, orchestrator: r.orchestrator,
    orchestratorCostWei: r.orchestrator_cost_wei, paidWei: r.paid_wei, chargeMicros: r.charge_micros, currency: r.currency,
  };
}

/**
 * The usage insert as a group commit: the whole batch in one transaction. A record whose
 * requestId was recorded before returns the existing row (idempotent). If the batch
 * fails, its records are retried one by one so one bad record cannot fail the others;
 * each result is the stored record or the error for that record.
 */
export function prepareUsageInsert(db: DB): (batch: NewUsageRecord[]) => Array<UsageRecord | Error> {
  const insertStmt = db.prepare(
    `INSERT INTO usage (ts, kind, key_id, pipeline, model, stream_id, request_id, units, duration_ms, orchestrator,
       orchestrator_cost_wei, paid_wei, charge_micros, currency)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
  );
  const byRequest = db.prepare("SELECT * FROM usage WHERE request_id = ?");
  const insertOne = (u: NewUsageRecord): UsageRecord => {
    const r = insertStmt.run(
      u.ts, u.kind, u.keyId, u.pipeline, u.model, u.streamId, u.requestId, u.units, u.durationMs, u.orchestrator,
      u.orchestratorCostWei, u.paidWei, u.chargeMicros, u.currency,
    );
    if (r.changes === 1) {
      return {
        id: Number(r.lastInsertRowid), ts: u.ts, kind: u.kind, keyId: u.keyId, pipeline: u.pipeline, model: u.model,
        streamId: u.streamId, requestId: u.requestId, units: u.units, durationMs: u.durationMs, orchestrator: u.orchestrator,
        orchestratorCostWei: u.orchestratorCostWei, paidWei: u.paidWei, chargeMicros: u.chargeMicros, currency: u.currency,
      };
    }
    const existing = byRequest.get(u.requestId) as UsageDbRow | undefined;
    if (!existing) throw new Error("usage insert returned no row");
    return usageFromDb(existing);
  };
  const insertAll = db.transaction((batch: NewUsageRecord[]) => batch.map(insertOne));
  const insertAlone = db.transaction(insertOne);
  return (batch) => {
    try {
      return insertAll(batch);
    } catch (err) {
      if (batch.length === 1) return [err as Error];
      return batch.map((u) => {
        try {
          return insertAlone(u);
        } catch (e) {
          return e as Error;
        }
      });
    }
  };
}
