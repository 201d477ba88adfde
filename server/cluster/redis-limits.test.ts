// Cluster-wide limits on a real Redis (and PostgreSQL for spend): several nodes, each with its own connections.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { randomBytes } from "node:crypto";
import { createAccounts } from "../accounts/accounts.ts";
import { PostgresStorage } from "../accounts/postgres.ts";
import { ClusterLimits } from "./redis-limits.ts";
import { freshSchema } from "../../test/support/postgres.ts";
import { requireServices } from "../../test/support/services.ts";
import { sleep } from "../../test/support/wait.ts";

const services = requireServices("WHARF_TEST_DATABASE_URL", "WHARF_TEST_REDIS_URL");

async function withNodes(n: number, fn: (limits: ClusterLimits[]) => Promise<void>, opts: { slotTtlMs?: number } = {}): Promise<void> {
  const prefix = `wharf_t_${randomBytes(4).toString("hex")}:`;
  const conns = Array.from({ length: n }, () => new Redis(services.url("WHARF_TEST_REDIS_URL")));
  const limits = conns.map((r) => new ClusterLimits(r, { prefix, ...opts }));
  try {
    await fn(limits);
  } finally {
    limits.forEach((l) => l.stop());
    const keys = await conns[0]!.keys(`${prefix}*`);
    if (keys.length) await conns[0]!.del(...keys);
    await Promise.all(conns.map((c) => c.quit()));
  }
}

test("live-stream slots: a limit holds across nodes; a dead node's slot expires", { skip: services.skip }, () =>
  withNodes(3, async ([a, b, c]) => {
    const s1 = await a!.acquireSlot("k", 2);
    const s2 = await b!.acquireSlot("k", 2);
    assert.ok(s1.ok && s2.ok);
    const s3 = await c!.acquireSlot("k", 2);
    assert.deepEqual(s3, { ok: false, active: 2, limit: 2 });
    if (s1.ok) s1.release();
    await sleep(50);
    assert.ok((await c!.acquireSlot("k", 2)).ok, "a released slot is free at once");
    b!.stop(); // node b "dies": its slot is no longer renewed
    await sleep(1700);
    assert.ok((await a!.acquireSlot("k", 2)).ok, "the dead node's slot expired");
  }, { slotTtlMs: 1500 }));

test("a $0.05 daily cap is never exceeded under 40 concurrent requests over three nodes", { skip: services.skip }, async () => {
  const schema = await freshSchema(services.url("WHARF_TEST_DATABASE_URL"));
  try {
    await withNodes(3, async (limits) => {
      const nodes = await Promise.all(limits.map(async (l) => createAccounts({ dataDir: "/nonexistent", storage: await PostgresStorage.open(schema.url), clusterLimits: l, watchIntervalMs: 0 })));
      const { key } = await nodes[0]!.createKey({ name: "capped", scopes: ["ai"], dailyCapMicros: 50_000 });
      const costMicros = 3_000;
      let served = 0;
      await Promise.all(Array.from({ length: 40 }, async (_, i) => {
        const node = nodes[i % 3]!;
        const d = await node.checkSpend(key, costMicros, { reserve: true });
        if (!d.ok) return;
        await sleep(5 + (i % 7) * 3); // the orchestrator call
        await node.storage.usage.insert({
          ts: Date.now(), kind: "batch", keyId: key.id, pipeline: "text-to-image", model: "m", streamId: null, requestId: `r${i}`,
          units: 1, durationMs: 5, orchestrator: "o", orchestratorCostWei: "1", paidWei: "1", chargeMicros: costMicros, currency: "USD",
        });
        d.release();
        served++;
      }));
      const t = new Date();
      const spent = await nodes[1]!.storage.usage.spentSince(key.id, Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()), 0);
      assert.ok(spent.day <= 50_000, `spent ${spent.day} micros over the 50000 cap`);
      assert.equal(spent.day, served * costMicros);
      assert.ok(served >= 10, `only ${served} served`);
      await Promise.all(nodes.map((n) => n.close()));
    });
  } finally {
    await schema.drop();
  }
});

test("a spend mark taken from the rate-limit call still counts a release the committed-spend read missed", { skip: services.skip }, () =>
  withNodes(2, async ([a, b]) => {
    const caps = { dailyCapMicros: 100, monthlyCapMicros: null };
    const first = await a!.hold("k", await a!.mark("k"), { day: 0, month: 0 }, caps, 10, true);
    assert.ok(first.ok);
    // Node b's request: its rate-limit call answers the release sequence (its mark, no extra round trip) ...
    const watcher = new Redis(services.url("WHARF_TEST_REDIS_URL"));
    const monitor = await watcher.monitor();
    const gets: string[] = [];
    monitor.on("monitor", (_t: string, args: string[], source: string) => {
      if (source !== "lua" && args[0]?.toLowerCase() === "get" && args[1]?.endsWith(":spend:k:seq")) gets.push(args[1]);
    });
    await sleep(50);
    assert.ok((await b!.consume("k", { requestsPerMinute: 600, burst: 10 })).ok);
    const mark = await b!.mark("k");
    await sleep(50);
    monitor.disconnect();
    watcher.disconnect(); // left open, it would keep this file's process alive to the runner's timeout
    assert.deepEqual(gets, [], "the mark came with the rate-limit answer");
    assert.equal(mark.split("@")[0], "0");
    // ... then node a's usage is committed and its reservation released, after b's mark ...
    first.release();
    await sleep(50);
    // ... and b's committed-spend read missed that commit (0 spent): the release still counts.
    const second = await b!.hold("k", mark, { day: 0, month: 0 }, caps, 95, true);
    assert.deepEqual([second.ok, second.held], [false, 10]);
    // A fresh mark (after the release) no longer counts it: the read would have seen the commit.
    await sleep(60);
    const fresh = await b!.mark("k");
    assert.equal(fresh.split("@")[0], "1");
    const third = await b!.hold("k", fresh, { day: 10, month: 10 }, caps, 90, true);
    assert.deepEqual([third.ok, third.held], [true, 0]);
    third.release();
  }));
