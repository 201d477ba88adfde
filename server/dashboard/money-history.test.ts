// Money over days from the ledger: per-day charge, cost and margin in total, by pipeline and by
// top key; keys at 80 % of a cap or more, nearest first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { withAccounts } from "../../test/support/accounts.ts";
import { keysNearCaps, moneyHistory } from "./money-history.ts";

const NOW = Date.UTC(2026, 4, 20, 12);
const DAY = 86_400_000;
const ETH = 10n ** 18n;

test("per day: charge, orchestrator cost at ethPrice and margin, by pipeline and by key", async () => {
  await withAccounts(async (a) => {
    const { key: k1 } = await a.createKey({ name: "one", scopes: ["ai"] });
    const { key: k2 } = await a.createKey({ name: "two", scopes: ["ai"] });
    // 0.001 ETH paid in tickets = 3 USD at the default ethPrice of 3000; charges given.
    await a.recordBatchUsage({ keyId: k1.id, pipeline: "text-to-image", units: 1, orchestratorCostWei: ETH / 1000n, paidWei: ETH / 1000n, chargeMicros: 4_000_000, ts: NOW - DAY });
    await a.recordBatchUsage({ keyId: k2.id, pipeline: "llm", units: 1, orchestratorCostWei: 0n, chargeMicros: 1_000_000, ts: NOW });
    await a.recordBatchUsage({ keyId: k1.id, pipeline: "llm", units: 1, orchestratorCostWei: 0n, chargeMicros: 500_000, ts: NOW - 40 * DAY }); // outside the range
    const m = await moneyHistory(a, 3, NOW);
    assert.deepEqual(m.days, ["2026-05-18", "2026-05-19", "2026-05-20"]);
    assert.deepEqual(m.total.map((d) => [d.charge, d.cost, d.margin, d.records]), [[0, 0, 0, 0], [4, 3, 1, 1], [1, 0, 1, 1]]);
    assert.deepEqual(Object.keys(m.byPipeline).sort(), ["llm", "text-to-image"]);
    assert.deepEqual(m.byPipeline["llm"]!.map((d) => d.charge), [0, 0, 1]);
    assert.deepEqual(Object.keys(m.byKey), [k1.id, k2.id], "biggest spender first");
    assert.equal(m.currency, "USD");
  });
});

test("keys near their caps: today against the daily cap, this month against the monthly one", async () => {
  await withAccounts(async (a) => {
    const { key: near } = await a.createKey({ name: "near", scopes: ["ai"], dailyCapMicros: 10_000_000 });
    const { key: over } = await a.createKey({ name: "over", scopes: ["ai"], monthlyCapMicros: 2_000_000 });
    const { key: far } = await a.createKey({ name: "far", scopes: ["ai"], dailyCapMicros: 100_000_000 });
    await a.createKey({ name: "uncapped", scopes: ["ai"] });
    await a.recordBatchUsage({ keyId: near.id, pipeline: "llm", units: 1, chargeMicros: 8_500_000, ts: NOW });
    await a.recordBatchUsage({ keyId: near.id, pipeline: "llm", units: 1, chargeMicros: 9_000_000, ts: NOW - DAY }); // yesterday: not today's
    await a.recordBatchUsage({ keyId: over.id, pipeline: "llm", units: 1, chargeMicros: 2_500_000, ts: NOW - 5 * DAY });
    await a.recordBatchUsage({ keyId: far.id, pipeline: "llm", units: 1, chargeMicros: 1_000_000, ts: NOW });
    const caps = await keysNearCaps(a, NOW);
    assert.deepEqual(caps.map((c) => [c.name, c.cap, c.spent, c.capAmount, c.share]), [
      ["over", "monthly", 2.5, 2, 1.25],
      ["near", "daily", 8.5, 10, 0.85],
    ]);
  });
});
