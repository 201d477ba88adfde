// Today's money: running totals from committed records, one count per record, the ledger read again, a new day starts at zero.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SpendToday } from "./spend-today.ts";
import type { UsageGroup, UsageRecord } from "../accounts/types.ts";

const DAY = Date.UTC(2026, 2, 1);

function rec(id: number, over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    id, ts: DAY + 3600_000, kind: "batch", keyId: "key_a", pipeline: "text-to-image", model: "m", streamId: null, requestId: `r${id}`,
    units: 1, durationMs: 0, orchestrator: "o", orchestratorCostWei: String(10n ** 15n), paidWei: String(10n ** 15n), chargeMicros: 3600, currency: "USD", ...over,
  } as UsageRecord;
}

test("records add to today's totals once each; refunds take them back; cost is converted at ethPrice", () => {
  let now = DAY + 7200_000;
  const s = new SpendToday({ ethPrice: 3000, group: async () => [], now: () => now });
  s.add(rec(1));
  s.add(rec(1)); // told twice (idempotent insert)
  s.add(rec(2, { keyId: "key_b", pipeline: "llm" }));
  s.add(rec(3, { units: -1, orchestratorCostWei: String(-(10n ** 15n)), paidWei: String(-(10n ** 15n)), chargeMicros: -3600 })); // a record taking one back
  s.add(rec(4, { ts: DAY - 1 })); // yesterday
  assert.deepEqual(s.total(), { chargeMicros: 3600, costMicros: 3_000_000 }); // 0.001 ETH x 3000 = 3 USD
  assert.equal(s.pipelines().get("llm")!.chargeMicros, 3600);
  assert.equal(s.keys().get("key_a")!.chargeMicros, 0);
  now = DAY + 86_400_000 + 1; // midnight UTC passed
  assert.deepEqual(s.total(), { chargeMicros: 0, costMicros: 0 });
});

test("the ledger is read at start and then at most every few minutes; its figures replace the running totals", async () => {
  let now = DAY + 1000;
  let reads = 0;
  const groups: Record<string, UsageGroup[]> = {
    pipeline: [{ group: "transcode", records: 2, units: 0, durationMs: 0, orchestratorCostWei: "0", paidWei: "0", chargeMicros: 500 }],
    key: [{ group: "key_a", records: 2, units: 0, durationMs: 0, orchestratorCostWei: "0", paidWei: "0", chargeMicros: 500 }],
  };
  const s = new SpendToday({ ethPrice: 3000, group: async (_f, _t, by) => (reads++, groups[by]!), now: () => now });
  s.add(rec(1));
  await s.maybeResync();
  assert.equal(reads, 2);
  assert.deepEqual(s.total(), { chargeMicros: 500, costMicros: 0 });
  now += 60_000;
  await s.maybeResync();
  assert.equal(reads, 2, "not again within the resync period");
  now += 5 * 60_000;
  await s.maybeResync();
  assert.equal(reads, 4);
});
