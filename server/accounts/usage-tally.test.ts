import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccounts } from "./accounts.ts";
import { withAccounts } from "../../test/support/accounts.ts";

const PRICE_BOOK = { currency: "USD", ethPrice: 3000, default: { mode: "margin" as const, margin: 0.2 }, pipelines: { apps: { mode: "fixed" as const, price: 0.000003, per: 1, basis: "units" as const } } };

const run = (keyId: string, orchestrator = "https://o1") => ({ keyId, pipeline: "apps", model: "example/json", orchestrator, orchestratorCostWei: 1000n, paidWei: 700n });
const recordsOf = async (a: Parameters<Parameters<typeof withAccounts>[0]>[0], keyId: string) =>
  (await a.listUsage({ keyId, from: 0, to: Date.now() + 60_000, limit: 100 })).sort((x, y) => x.orchestrator!.localeCompare(y.orchestrator!));

test("tallied runs: runs of a window share one record (units, costs and charges summed), another orchestrator gets its own", async () => {
  await withAccounts(async (a) => {
    const { key } = await a.createKey({ name: "t", scopes: ["ai"] });
    for (let i = 0; i < 4; i++) a.tallyRun(run(key.id));
    a.tallyRun(run(key.id, "https://o2"));
    a.tallyRun(run(key.id)); // back to the first: counted with it
    assert.equal((await recordsOf(a, key.id)).length, 0, "held for the window");
    await waitFor(async () => (await recordsOf(a, key.id)).length === 2);
    const [o1, o2] = await recordsOf(a, key.id);
    assert.equal(o1?.units, 5);
    assert.equal(o1?.orchestratorCostWei, "5000");
    assert.equal(o1?.paidWei, "3500");
    assert.equal(o1?.chargeMicros, 15, "each run charged as one (3 micro-USD)");
    assert.equal(o2?.units, 1);
    assert.equal(o2?.chargeMicros, 3);
    assert.notEqual(o1?.requestId, o2?.requestId);
  }, { priceBook: PRICE_BOOK, usageTallyWindowMs: 50 });
});

test("tallied runs: a capped key's runs count against its cap while tallied, and their reservations are released once recorded", async () => {
  await withAccounts(async (a) => {
    const { key } = await a.createKey({ name: "capped", scopes: ["ai"], dailyCapMicros: 10 });
    // Three runs of 3 micro-USD, reserved as the run path does, then tallied.
    for (let i = 0; i < 3; i++) {
      const d = await a.checkSpend(key, 3, { reserve: true });
      assert.ok(d.ok);
      a.tallyRun(run(key.id), d.release);
    }
    assert.equal((await a.checkSpend(key, 3)).ok, false, "9 tallied + 3 more passes a 10 cap, though nothing is recorded yet");
    await waitFor(async () => (await recordsOf(a, key.id)).length === 1);
    const [rec] = await recordsOf(a, key.id);
    assert.equal(rec?.units, 3);
    assert.equal(rec?.chargeMicros, 9);
    await new Promise((r) => setImmediate(r));
    // Recorded: 9 spent, nothing held any more (9 held + 9 spent would refuse this).
    assert.equal((await a.checkSpend(key, 1)).ok, true);
    assert.equal((await a.checkSpend(key, 2)).ok, false);
  }, { priceBook: PRICE_BOOK, usageTallyWindowMs: 100 });
});

test("tallied runs: closing the accounts records the open window", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-tally-"));
  try {
    const a = createAccounts({ dataDir: dir, watchIntervalMs: 0, priceBook: PRICE_BOOK, usageTallyWindowMs: 60_000 });
    const { key } = await a.createKey({ name: "t", scopes: ["ai"] });
    a.tallyRun(run(key.id));
    a.tallyRun(run(key.id));
    await a.close();
    const again = createAccounts({ dataDir: dir, watchIntervalMs: 0, priceBook: PRICE_BOOK });
    try {
      const [rec] = await again.listUsage({ keyId: key.id, from: 0, to: Date.now() + 60_000 });
      assert.equal(rec?.units, 2);
      assert.equal(rec?.chargeMicros, 6);
    } finally {
      await again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function waitFor(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("timed out");
}

test("tallied runs: a run the price book cannot charge is not tallied, and its reservation is released at once", async () => {
  await withAccounts(async (a) => {
    const { key } = await a.createKey({ name: "t", scopes: ["ai"] });
    let released = 0;
    const margin = { ...run(key.id), pipeline: "no-fixed-rule", orchestratorCostWei: -5n }; // the default rule: a margin on the cost
    a.tallyRun(margin, () => released++);
    assert.equal(released, 1);
    a.tallyRun(run(key.id));
    await waitFor(async () => (await recordsOf(a, key.id)).length === 1);
    const [rec] = await recordsOf(a, key.id);
    assert.equal(rec?.units, 1, "only the run that could be charged");
  }, { priceBook: PRICE_BOOK, usageTallyWindowMs: 50 });
});
