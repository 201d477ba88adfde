import { test } from "node:test";
import assert from "node:assert/strict";
import { withAccounts } from "../../test/support/accounts.ts";
import { csvCell } from "./csv.ts";
import { PriceBook, formatMicros } from "./pricing.ts";
import { ConcurrencyLimiter, TokenBucketLimiter } from "./ratelimit.ts";

test("token bucket: burst, then refusal with a sensible retry-after, then refill", () => {
  let t = 0;
  const rl = new TokenBucketLimiter(() => t);
  const limit = { requestsPerMinute: 60, burst: 5 }; // one per second
  for (let i = 0; i < 5; i++) assert.equal(rl.consume("k", limit).ok, true, `burst request ${i}`);
  const denied = rl.consume("k", limit);
  assert.equal(denied.ok, false);
  assert.equal(!denied.ok && denied.retryAfterSeconds, 1);
  t += 999;
  assert.equal(rl.consume("k", limit).ok, false);
  t += 2;
  assert.equal(rl.consume("k", limit).ok, true, "one token after a second");
  t += 60_000;
  let n = 0;
  while (rl.consume("k", limit).ok) n++;
  assert.equal(n, 5, "refills up to the burst, not beyond");
  // slow rate: 6/min -> 10 s per token
  const slow = { requestsPerMinute: 6, burst: 1 };
  assert.equal(rl.consume("s", slow).ok, true);
  const d = rl.consume("s", slow);
  assert.equal(!d.ok && d.retryAfterSeconds, 10);
  assert.equal(rl.consume("other", null).ok, true, "no limit");
  // keys are independent
  assert.equal(rl.consume("k2", limit).ok, true);
});

test("concurrency limiter counts live streams per key", () => {
  const c = new ConcurrencyLimiter();
  const a = c.acquire("k", 2);
  const b = c.acquire("k", 2);
  assert.ok(a.ok && b.ok);
  const d = c.acquire("k", 2);
  assert.equal(d.ok, false);
  assert.deepEqual(d.ok ? null : [d.active, d.limit], [2, 2]);
  if (a.ok) { a.release(); a.release(); }
  assert.equal(c.count("k"), 1, "release is idempotent");
  assert.ok(c.acquire("k", 2).ok);
  assert.ok(c.acquire("free", null).ok);
  assert.equal(c.acquire("zero", 0).ok, false);
});

test("price book: margin over wei cost and fixed prices", () => {
  const pb = new PriceBook({
    ethPrice: 3000,
    default: { mode: "margin", margin: 0.2 },
    pipelines: {
      "text-to-image": { mode: "fixed", price: 0.002, per: 1_000_000, basis: "units" },
      transcode: { mode: "fixed", price: 0.01, per: 60, basis: "seconds" },
    },
  });
  // 1e12 wei = 1e-6 ETH = 0.003 USD; +20 % = 0.0036 USD = 3600 micros
  assert.equal(pb.charge({ pipeline: "llm", orchestratorCostWei: "1000000000000" }), 3600);
  assert.equal(pb.charge({ pipeline: "llm", orchestratorCostWei: 1n }), 1, "rounds up, never free");
  assert.equal(pb.charge({ pipeline: "llm", orchestratorCostWei: "0" }), 0);
  // 1024x1024 = 1.048576 MP x 0.002 = 0.002097152 -> 2098 micros
  assert.equal(pb.charge({ pipeline: "text-to-image", units: 1024 * 1024 }), 2098);
  assert.equal(pb.charge({ pipeline: "transcode", durationMs: 60_000, units: 123 }), 10_000);
  assert.throws(() => pb.charge({ pipeline: "llm", orchestratorCostWei: "-5" }));
  assert.throws(() => new PriceBook({ default: { mode: "fixed", price: 1, per: 0, basis: "units" } }), /per/);
  assert.equal(formatMicros(1_234_567), "1.234567");
  assert.equal(formatMicros(5), "0.000005");
});

test("spend caps: projected cost over the daily or monthly cap names the cap", async () => {
  const now = Date.UTC(2024, 4, 15, 12, 0, 0);
  await withAccounts(async (a) => {
    const { key } = await a.createKey({ name: "c", scopes: ["ai"], dailyCapMicros: 5_000_000, monthlyCapMicros: 20_000_000 });
    // Earlier this month (not today): 14 USD; today: 4 USD; last month: lots (ignored).
    await a.recordBatchUsage({ keyId: key.id, pipeline: "llm", units: 1, chargeMicros: 14_000_000, ts: Date.UTC(2024, 4, 2) });
    await a.recordBatchUsage({ keyId: key.id, pipeline: "llm", units: 1, chargeMicros: 4_000_000, ts: Date.UTC(2024, 4, 15, 1) });
    await a.recordBatchUsage({ keyId: key.id, pipeline: "llm", units: 1, chargeMicros: 99_000_000, ts: Date.UTC(2024, 3, 30, 23, 59) });

    let d = await a.checkSpend(key, 500_000);
    assert.ok(d.ok);
    assert.equal(d.ok && d.remainingDailyMicros, 500_000);
    assert.equal(d.ok && d.remainingMonthlyMicros, 1_500_000);

    d = await a.checkSpend(key, 1_200_000);
    assert.equal(d.ok, false);
    assert.equal(!d.ok && d.cap, "daily");
    assert.equal(!d.ok && d.resetsAt, Date.UTC(2024, 4, 16));
    assert.match(!d.ok ? d.message : "", /daily spend cap of 5\.00 USD/);

    d = await a.checkSpend(key, 2_500_000);
    assert.equal(!d.ok && d.cap, "monthly", "monthly wins when both are exceeded");
    assert.deepEqual(!d.ok && d.exceeded, ["monthly", "daily"]);
    assert.equal(!d.ok && d.resetsAt, Date.UTC(2024, 5, 1));

    // Reservations: two concurrent requests of 0.6 cannot both pass a 1.0 remainder.
    const r1 = await a.checkSpend(key, 600_000, { reserve: true });
    assert.ok(r1.ok);
    const r2 = await a.checkSpend(key, 600_000, { reserve: true });
    assert.equal(!r2.ok && r2.cap, "daily");
    if (r1.ok) r1.release();
    assert.ok((await a.checkSpend(key, 600_000)).ok);

    const { key: uncapped } = await a.createKey({ name: "u", scopes: ["ai"] });
    assert.ok((await a.checkSpend(uncapped, 1e12)).ok);
  }, { now: () => now });
});

test("usage: records, idempotent request ids, grouping by day and pipeline, CSV", async () => {
  await withAccounts(async (a) => {
    const { key } = await a.createKey({ name: "u", scopes: ["ai", "streams"] });
    const { key: k2 } = await a.createKey({ name: "v", scopes: ["ai"] });
    const d1 = Date.UTC(2024, 4, 1, 10);
    const d2 = Date.UTC(2024, 4, 2, 23, 59, 59);
    const b1 = await a.recordBatchUsage({ keyId: key.id, pipeline: "text-to-image", model: "stabilityai/sdxl-turbo", units: 1024 * 576, orchestrator: "0xabc", orchestratorCostWei: "1000000000000", requestId: "req-1", ts: d1 });
    assert.equal(b1.chargeMicros, 3600);
    const again = await a.recordBatchUsage({ keyId: key.id, pipeline: "text-to-image", units: 1, requestId: "req-1", ts: d1 });
    assert.equal(again.id, b1.id, "same request id = same record");
    await a.recordBatchUsage({ keyId: key.id, pipeline: "llm", model: "=cmd|' /C calc'!A0", units: 256, orchestratorCostWei: "18446744073709551616", ts: d2 });
    await a.recordStreamUsage({ keyId: key.id, streamId: "str_1", pipeline: "live-video-to-video", durationSeconds: 60, pixels: 1280 * 720 * 30 * 60, orchestratorCostWei: "2000000000000", requestId: "str_1:0", ts: d2 });
    await a.recordBatchUsage({ keyId: k2.id, pipeline: "llm", units: 10, chargeMicros: 7, ts: d2 });
    await assert.rejects(a.recordBatchUsage({ keyId: key.id, pipeline: "llm", units: 1, orchestratorCostWei: "1.5" }));

    const q = { from: Date.UTC(2024, 4, 1), to: Date.UTC(2024, 5, 1) };
    assert.equal((await a.listUsage(q)).length, 4);
    assert.equal((await a.listUsage({ ...q, keyId: key.id })).length, 3);

    const byDay = await a.groupUsage({ ...q, keyId: key.id }, "day");
    assert.deepEqual(byDay.map((g) => [g.group, g.records]), [["2024-05-01", 1], ["2024-05-02", 2]]);
    assert.equal(byDay[1]!.orchestratorCostWei, (18446744073709551616n + 2000000000000n).toString(), "wei sums beyond 2^64 are exact");
    assert.equal(byDay[1]!.durationMs, 60_000);

    const byPipeline = await a.groupUsage(q, "pipeline");
    assert.deepEqual(byPipeline.map((g) => [g.group, g.records]), [["live-video-to-video", 1], ["llm", 2], ["text-to-image", 1]]);
    const stream = byPipeline[0]!;
    assert.equal(stream.units, 1280 * 720 * 30 * 60);
    assert.equal(stream.chargeMicros, 7200);

    const csv = await a.usageCsv({ ...q, keyId: key.id });
    const lines = csv.trimEnd().split("\r\n");
    assert.equal(lines[0], "id,time,kind,key_id,pipeline,model,stream_id,request_id,units,duration_seconds,orchestrator,orchestrator_cost_wei,paid_wei,charge,currency");
    assert.equal(lines.length, 4);
    assert.ok(lines[1]!.includes(",0.003600,USD"));
    assert.ok(csv.includes(`"'=cmd|' /C calc'!A0"`) || csv.includes(`'=cmd|' /C calc'!A0`), "formula cells are defused");

    const groupedCsv = await a.usageCsv(q, "pipeline");
    assert.equal(groupedCsv.split("\r\n")[0], "pipeline,records,units,duration_seconds,orchestrator_cost_wei,paid_wei,charge,currency");
    assert.equal(csvCell('a,"b"'), '"a,""b"""');
    assert.equal(csvCell("-12.5"), "-12.5");
  });
});
