// accountsBilling (server/ai/index.ts) against real accounts on disk: spend caps hold
// requests in flight back, keys without caps skip that work and are still billed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { withAccounts } from "../../test/support/accounts.ts";
import { accountsBilling } from "./index.ts";

// text-to-image at 0.002 USD per megapixel: a 1024x1024 request is 2098 micros.
const MP = 1024 * 1024;

const priceBook = { pipelines: { "text-to-image": { mode: "fixed", price: 0.002, per: 1_000_000, basis: "units" } as const } };

test("a capped key: requests in flight count against the cap until released; past it, 402 with Retry-After", async () => {
  await withAccounts(async (a) => {
    const billing = accountsBilling(a);
    const { key } = await a.createKey({ name: "capped", scopes: ["ai"], dailyCapMicros: 5000 });
    const first = await billing.reserve!(key, "text-to-image", MP, 0n);
    const second = await billing.reserve!(key, "text-to-image", MP, 0n);
    assert.ok(first.ok && second.ok, "two requests of 2098 fit in 5000");
    const third = await billing.reserve!(key, "text-to-image", MP, 0n);
    assert.equal(third.ok, false, "a third in flight would pass the cap");
    assert.ok(!third.ok && third.status === 402 && /daily spend cap/.test(third.message));
    assert.ok(!third.ok && Number(third.headers?.["retry-after"]) >= 1);
    if (first.ok) first.release();
    assert.equal((await billing.reserve!(key, "text-to-image", MP, 0n)).ok, true, "fits again once one is released");
    // A billed request counts through its usage record from then on.
    await billing.record({ keyId: key.id, pipeline: "text-to-image", model: "m", units: MP, orchestrator: "o", orchestratorCostWei: 0n, paidWei: 0n, requestId: "r1" });
    if (second.ok) second.release();
    const spent = await a.checkSpend(key, 0);
    assert.ok(spent.ok && spent.spentTodayMicros === 2098 + 2098, "one record + one reservation still held");
  }, { priceBook });
});

test("a key without caps is never held back, and every request is still billed", async () => {
  await withAccounts(async (a) => {
    const billing = accountsBilling(a);
    const { key } = await a.createKey({ name: "open", scopes: ["ai"] });
    for (let i = 0; i < 50; i++) {
      const r = await billing.reserve!(key, "text-to-image", 1000 * MP, 0n);
      assert.equal(r.ok, true);
      await billing.record({ keyId: key.id, pipeline: "text-to-image", model: "m", units: MP, orchestrator: "o", orchestratorCostWei: 0n, paidWei: 0n, requestId: `r${i}` });
    }
    const billed = await a.listUsage({ from: 0, to: Date.now() + 1000, keyId: key.id });
    assert.equal(billed.length, 50);
    assert.equal(billed.reduce((sum, u) => sum + u.chargeMicros, 0), 50 * 2098);
  }, { priceBook });
});
