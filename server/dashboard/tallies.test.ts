// SecondTally and RecentLatencies: percentiles of one second's samples (its buffers reused the
// next second without carrying samples over) and of an orchestrator's last calls.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RecentLatencies, SecondTally } from "./tallies.ts";

test("a second's latencies give its own percentiles; the next second starts empty, even past the first buffer's size", () => {
  const t = new SecondTally();
  for (let i = 1000; i >= 1; i--) t.latency("a", i); // grows past the first buffer, unsorted
  t.latency("b", 7);
  t.count("x", 2);
  const first = t.drain();
  assert.deepEqual(first.latencies.get("a"), { p50: 500, p95: 950, samples: 1000 });
  assert.deepEqual(first.latencies.get("b"), { p50: 7, p95: 7, samples: 1 });
  assert.equal(first.counts.get("x"), 2);
  for (const ms of [3, 1, 2]) t.latency("a", ms);
  const second = t.drain();
  assert.deepEqual(second.latencies.get("a"), { p50: 2, p95: 3, samples: 3 });
  assert.equal(second.latencies.has("b"), false);
  assert.equal(second.counts.size, 0);
  assert.equal(t.drain().latencies.size, 0);
});

test("a second keeps at most 10,000 latencies of a group", () => {
  const t = new SecondTally();
  for (let i = 0; i < 12_000; i++) t.latency("a", i < 10_000 ? 1 : 99);
  assert.deepEqual(t.drain().latencies.get("a"), { p50: 1, p95: 1, samples: 10_000 });
});

test("recent latencies are the last ones, numerically ordered", () => {
  const r = new RecentLatencies(4);
  assert.equal(r.percentiles(), undefined);
  for (const ms of [100, 9, 10, 2, 30]) r.add(ms); // 100 is pushed out
  assert.deepEqual(r.percentiles(), { p50: 9, p95: 30, samples: 4 });
});
