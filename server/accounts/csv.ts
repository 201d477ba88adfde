// CSV export of usage (RFC 4180; cells that a spreadsheet would run as a formula are prefixed with ').
import { formatMicros } from "./pricing.ts";
import type { UsageGroup, UsageGroupBy, UsageRecord } from "./types.ts";

export function csvCell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return "";
  let s = String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function line(cells: (string | number | null | undefined)[]): string {
  return cells.map(csvCell).join(",") + "\r\n";
}

export function usageRecordsCsv(records: UsageRecord[]): string {
  let out = line(["id", "time", "kind", "key_id", "pipeline", "model", "stream_id", "request_id", "units", "duration_seconds",
    "orchestrator", "orchestrator_cost_wei", "paid_wei", "charge", "currency"]);
  for (const r of records) {
    out += line([r.id, new Date(r.ts).toISOString(), r.kind, r.keyId, r.pipeline, r.model, r.streamId, r.requestId, r.units,
      (r.durationMs / 1000).toFixed(3), r.orchestrator, r.orchestratorCostWei, r.paidWei, formatMicros(r.chargeMicros), r.currency]);
  }
  return out;
}

export function usageGroupsCsv(groups: UsageGroup[], by: UsageGroupBy, currency: string): string {
  let out = line([by, "records", "units", "duration_seconds", "orchestrator_cost_wei", "paid_wei", "charge", "currency"]);
  for (const g of groups) {
    out += line([g.group, g.records, g.units, (g.durationMs / 1000).toFixed(3), g.orchestratorCostWei, g.paidWei, formatMicros(g.chargeMicros), currency]);
  }
  return out;
}
