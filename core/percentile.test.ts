import { test } from "node:test";
import assert from "node:assert/strict";
import { quantile, quantileOfSorted } from "./percentile.ts";

test("nearest rank: p50 of an even sample is the lower middle, p100 the max, p0 the min", () => {
  assert.equal(quantileOfSorted([1, 2, 3, 4], 0.5), 2);
  assert.equal(quantileOfSorted([1, 2, 3, 4], 1), 4);
  assert.equal(quantileOfSorted([1, 2, 3, 4], 0), 1);
  assert.equal(quantileOfSorted([7], 0.99), 7);
});

test("p99 of 1..100 is 99 and p95 is 95; unsorted input is sorted without being changed", () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(quantile(xs, 0.99), 99);
  assert.equal(quantile(xs, 0.95), 95);
  assert.equal(xs[0], 100);
});

test("no samples: NaN", () => {
  assert.ok(Number.isNaN(quantile([], 0.5)));
});
