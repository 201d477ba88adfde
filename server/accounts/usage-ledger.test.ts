// The usage ledger in both modes (commit on the event loop + fsync within an interval,
// commit with an fsync on the ledger thread): group commits, idempotent request ids,
// one bad record not failing its batch; and refunds of batch requests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { withAccounts } from "../../test/support/accounts.ts";
import type { NewUsageRecord } from "./types.ts";

const record = (keyId: string, requestId: string, units = 10): NewUsageRecord => ({
  ts: Date.now(), kind: "batch", keyId, pipeline: "llm", model: "m", streamId: null, requestId, units, durationMs: 0,
  orchestrator: "https://o", orchestratorCostWei: "1000", paidWei: "900", chargeMicros: 7, currency: "USD",
});

for (const fsyncMs of [100, 0]) {
  test(`ledger (usageFsyncIntervalMs ${fsyncMs}): a batch commits together, duplicates are idempotent, a bad record fails alone`, () =>
    withAccounts(async (a) => {
      const { key } = await a.createKey({ name: "k", scopes: ["ai"] });
      const usage = a.storage.usage;
      // Issued in one event-loop turn: one group commit.
      const rows = await Promise.all(Array.from({ length: 20 }, (_, i) => usage.insert(record(key.id, `r${i}`, i))));
      assert.equal(new Set(rows.map((r) => r.id)).size, 20);
      assert.deepEqual(rows.map((r) => r.units), Array.from({ length: 20 }, (_, i) => i));

      const again = await usage.insert(record(key.id, "r3", 999));
      assert.equal(again.id, rows[3]!.id, "a recorded request id returns the existing record");
      assert.equal(again.units, 3);

      const bad = { ...record(key.id, "bad"), kind: "nonsense" } as unknown as NewUsageRecord; // violates the CHECK constraint
      const mixed = await Promise.allSettled([usage.insert(record(key.id, "ok1")), usage.insert(bad), usage.insert(record(key.id, "ok2"))]);
      assert.deepEqual(mixed.map((m) => m.status), ["fulfilled", "rejected", "fulfilled"]);
      assert.match(String((mixed[1] as PromiseRejectedResult).reason), /check constraint/i);
      assert.ok(await usage.findByRequest("ok1"));
      assert.ok(await usage.findByRequest("ok2"));
      assert.equal(await usage.findByRequest("bad"), undefined);
    }, { usageFsyncIntervalMs: fsyncMs }));
}

test("refundBatchUsage negates a batch record once, audited; nothing to refund for unknown ids", () =>
  withAccounts(async (a) => {
    const { key } = await a.createKey({ name: "k", scopes: ["ai"] });
    const orig = await a.recordBatchUsage({ keyId: key.id, pipeline: "text-to-image", units: 4096, orchestratorCostWei: "5000000000000", requestId: "req-1" });
    assert.ok(orig.chargeMicros > 0);
    const refund = await a.refundBatchUsage("req-1", "result could not be copied");
    assert.ok(refund);
    assert.equal(refund.requestId, "req-1:refund");
    assert.equal(refund.units, -4096);
    assert.equal(refund.chargeMicros, -orig.chargeMicros);
    assert.equal(refund.orchestratorCostWei, "-5000000000000");
    const second = await a.refundBatchUsage("req-1", "again");
    assert.equal(second?.id, refund.id, "idempotent");
    assert.equal(await a.refundBatchUsage("no-such-request", "x"), undefined);
    const day = new Date(orig.ts);
    const total = await a.storage.usage.sumCharges(key.id, day.getTime() - 1000, day.getTime() + 60_000);
    assert.equal(total, 0, "the key's spend nets to zero");
    const audit = await a.queryAudit({ action: "usage.refund" });
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.details.requestId, "req-1");
  }, { usageFsyncIntervalMs: 100 }));

test("settleBatchUsage brings a request's records to the units its answer used, once; nothing when they match", () =>
  withAccounts(async (a) => {
    const { key } = await a.createKey({ name: "k", scopes: ["ai"] });
    // A streamed LLM answer billed by max_tokens (256) before its first byte; it used 6 tokens.
    const orig = await a.recordBatchUsage({ keyId: key.id, pipeline: "llm", units: 256, orchestratorCostWei: "256000", paidWei: "300000", requestId: "llm-1" });
    const settle = await a.settleBatchUsage("llm-1", { units: 6, orchestratorCostWei: 6000n });
    assert.ok(settle);
    assert.equal(settle.requestId, "llm-1:settle");
    assert.equal(settle.units, 6 - 256);
    assert.equal(settle.orchestratorCostWei, String(6000 - 256000));
    assert.equal(settle.paidWei, "0", "the tickets sent stay on the first record");
    const used = await a.recordBatchUsage({ keyId: key.id, pipeline: "llm", units: 6, orchestratorCostWei: "6000", requestId: "llm-6" });
    assert.equal(orig.chargeMicros + settle.chargeMicros, used.chargeMicros, "charged as if billed by 6 tokens from the start");
    assert.equal((await a.settleBatchUsage("llm-1", { units: 6, orchestratorCostWei: 6000n }))?.id, settle.id, "idempotent");
    assert.equal(await a.settleBatchUsage("llm-6", { units: 6, orchestratorCostWei: 6000n }), undefined, "nothing to settle");
    assert.equal(await a.settleBatchUsage("no-such-request", { units: 1, orchestratorCostWei: 0n }), undefined);
    const records = await a.listUsage({ from: 0, to: Date.now() + 1000, keyId: key.id });
    assert.equal(records.filter((r) => r.requestId?.startsWith("llm-1")).reduce((n, r) => n + r.units, 0), 6);
  }, { usageFsyncIntervalMs: 100 }));
