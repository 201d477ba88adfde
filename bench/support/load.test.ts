// The balanced slice orders of the interleaved load (load.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { balancedOrders } from "./load.ts";

test("balanced orders: each round is every target once, and each target follows each other one equally often", () => {
  for (let n = 1; n <= 7; n++) {
    const rows = balancedOrders(n);
    assert.equal(rows.length, n % 2 ? 2 * n : n, `rounds for ${n}`);
    const follows = new Map<string, number>();
    for (const row of rows) {
      assert.deepEqual([...row].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i), `a round of ${n} is a permutation`);
      for (let i = 1; i < row.length; i++) follows.set(`${row[i - 1]}>${row[i]}`, (follows.get(`${row[i - 1]}>${row[i]}`) ?? 0) + 1);
    }
    assert.equal(follows.size, n * (n - 1), `every ordered pair of ${n} occurs`);
    assert.equal(new Set(follows.values()).size <= 1, true, `every ordered pair of ${n} occurs as often: ${JSON.stringify([...follows])}`);
  }
});
