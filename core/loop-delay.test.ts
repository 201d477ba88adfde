// The shared event-loop delay sampler: a blocked loop shows in both readers (the recent p99 and
// the scrape's report), reports do not repeat samples, and summaries merge exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { LoopDelay, mergeSummaries, type DelaySummary } from "./loop-delay.ts";
import { loopDelay, registry } from "./metrics.ts";

const block = (ms: number) => {
  const t = performance.now();
  while (performance.now() - t < ms);
};

test("a 200 ms block shows in the recent p99 and in the next report only", async () => {
  let now = 0;
  const d = new LoopDelay({ resolutionMs: 20, windowMs: 2000, now: () => now });
  try {
    await sleep(300);
    assert.ok(d.recentP99Ms() < 100, `free loop: ${d.recentP99Ms()}`);
    block(200);
    await sleep(100);
    assert.ok(d.recentP99Ms() >= 150, `after the block: ${d.recentP99Ms()}`);
    now += 2500; // the window ends at the next read; it is still "recent" until the one after
    assert.ok(d.recentP99Ms() >= 150);
    const r = d.takeReport();
    assert.ok(r.count >= 10 && r.max >= 150 && r.min > 0, JSON.stringify(r));
    await sleep(200);
    const next = d.takeReport();
    assert.ok(next.count > 0 && next.max < 150, `the next report has only new samples: ${JSON.stringify(next)}`);
  } finally {
    d.stop();
  }
});

test("merged summaries: count, min, max, mean and stddev as of the union; percentiles an upper bound", () => {
  const stats = (xs: number[]): DelaySummary => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const stddev = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    const sorted = [...xs].sort((a, b) => a - b);
    const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil((q / 100) * sorted.length) - 1)]!;
    return { count: xs.length, min: sorted[0]!, max: sorted.at(-1)!, mean, stddev, p50: p(50), p90: p(90), p99: p(99) };
  };
  const a = [50, 51, 50, 52, 50, 180];
  const b = [50, 50, 49, 50];
  const m = mergeSummaries(stats(a), stats(b));
  const u = stats([...a, ...b]);
  assert.equal(m.count, u.count);
  assert.equal(m.min, u.min);
  assert.equal(m.max, u.max);
  assert.ok(Math.abs(m.mean - u.mean) < 1e-9);
  assert.ok(Math.abs(m.stddev - u.stddev) < 1e-9);
  for (const k of ["p50", "p90", "p99"] as const) assert.ok(m[k] >= u[k], k);
  assert.deepEqual(mergeSummaries(stats(a), { ...m, count: 0 }), stats(a));
});

test("the Prometheus lag gauges read the shared sampler (one sampler in the process, 50 ms)", async () => {
  assert.equal(loopDelay.resolutionMs, 50);
  await registry.metrics(); // starts a fresh report
  await sleep(120); // (the sampler's first run after a report starts its clock: as prom-client's)
  block(250);
  await sleep(150);
  const text = await registry.metrics();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
  assert.ok(value("wharf_nodejs_eventloop_lag_max_seconds") >= 0.2, text.match(/eventloop_lag_max.*$/m)?.[0]);
  const min = value("wharf_nodejs_eventloop_lag_min_seconds");
  assert.ok(min > 0 && min < 0.2, `min ${min}`); // (a run after a long block can come early: not exactly 50 ms)
  for (const s of ["p50", "p90", "p99", "mean", "stddev"]) assert.ok(Number.isFinite(value(`wharf_nodejs_eventloop_lag_${s}_seconds`)), s);
  assert.equal(text.match(/^# TYPE wharf_nodejs_eventloop_lag_p99_seconds /gm)?.length, 1);
  assert.ok(text.includes("wharf_process_cpu_seconds_total"), "the other default metrics are still there");
  loopDelay.stop();
});
