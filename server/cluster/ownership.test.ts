// Stream leases on a real Redis, several "nodes" each with its own connection.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { randomBytes } from "node:crypto";
import { StreamLeases } from "./ownership.ts";
import { requireServices } from "../../test/support/services.ts";
import { sleep, waitFor } from "../../test/support/wait.ts";

const services = requireServices("WHARF_TEST_REDIS_URL");

async function withNodes(n: number, fn: (leases: StreamLeases[], prefix: string) => Promise<void>, ttlMs = 5000): Promise<void> {
  const prefix = `wharf_t_${randomBytes(4).toString("hex")}:`;
  const conns = Array.from({ length: n }, () => new Redis(services.url("WHARF_TEST_REDIS_URL")));
  const leases = conns.map((r, i) => new StreamLeases(r, { prefix, nodeId: `n${i}`, address: () => `http://10.0.0.${i}:8935`, ttlMs }));
  try {
    await fn(leases, prefix);
  } finally {
    await Promise.all(leases.map((l) => l.stop()));
    const keys = await conns[0]!.keys(`${prefix}*`);
    if (keys.length) await conns[0]!.del(...keys);
    await Promise.all(conns.map((c) => c.quit()));
  }
}

test("one holder per stream; the others see it as the owner; released, another node takes it and continues the timeline exactly", { skip: services.skip }, () =>
  withNodes(2, async ([a, b]) => {
    const la = await a!.acquire("s1", "sess-a", () => assert.fail("not lost"));
    assert.equal(la.ok, true);
    if (!la.ok) return;
    assert.deepEqual(la.continuation, {});
    a!.track("s1", () => ({ source: { nextMsn: 41, discontinuities: 2 } }));
    const lb = await b!.acquire("s1", "sess-b", () => {});
    assert.deepEqual(lb, { ok: false, owner: { nodeId: "n0", address: "http://10.0.0.0:8935" } });
    assert.deepEqual(await b!.owner("s1"), { nodeId: "n0", address: "http://10.0.0.0:8935" });
    assert.equal(await b!.owner("other"), undefined);

    la.release();
    await a!.stop(); // waits for the release
    b!.forget("s1");
    assert.equal(await b!.owner("s1"), undefined);
    const again = await b!.acquire("s1", "sess-b2", () => {});
    assert.equal(again.ok, true);
    // Released by its owner: the numbers are exact, no margin.
    if (again.ok) assert.deepEqual(again.continuation, { source: { nextMsn: 41, discontinuities: 2 } });
  }),
);

test("a dead node's lease expires within its TTL; the next owner skips one sequence number (it may have started one more segment)", { skip: services.skip, timeout: 20_000 }, () =>
  withNodes(2, async ([a, b]) => {
    const la = await a!.acquire("s2", "sess-a", () => {});
    assert.equal(la.ok, true);
    a!.track("s2", () => ({ source: { nextMsn: 7, discontinuities: 0 } }));
    await sleep(600); // a few renewals write the continuation
    assert.equal((await b!.acquire("s2", "x", () => {})).ok, false, "held while renewed");
    const diedAt = Date.now();
    await a!.stop(); // the node dies: no more renewals, no release
    const lb = await waitFor("the lease free", async () => {
      const r = await b!.acquire("s2", "sess-b", () => {});
      return r.ok ? r : undefined;
    }, 5000, 100);
    assert.ok(Date.now() - diedAt <= 2000, `expired ${Date.now() - diedAt} ms after the last renewal (TTL 1 s)`);
    assert.deepEqual(lb.continuation, { source: { nextMsn: 8, discontinuities: 0 } });
  }, 1000),
);

test("a lease found in another node's hands at renewal ends the local session", { skip: services.skip, timeout: 20_000 }, () =>
  withNodes(2, async ([a, b], prefix) => {
    let lost = 0;
    const la = await a!.acquire("s3", "sess-a", () => lost++);
    assert.equal(la.ok, true);
    // Redis lost the lease (expired while unreachable) and another node took it.
    const redis = new Redis(services.url("WHARF_TEST_REDIS_URL"));
    try {
      assert.equal(await redis.del(`${prefix}lease:s3`), 1);
    } finally {
      await redis.quit();
    }
    assert.equal((await b!.acquire("s3", "sess-b", () => {})).ok, true);
    await waitFor("a loses it", () => lost === 1, 3000, 50);
    assert.deepEqual(await a!.owner("s3"), { nodeId: "n1", address: "http://10.0.0.1:8935" });
  }, 1000),
);

test("a lease released before its stream had a timeline (refused admission) does not vouch for the last owner's numbers", { skip: services.skip, timeout: 20_000 }, () =>
  withNodes(2, async ([a, b]) => {
    const la = await a!.acquire("s4", "sess-a", () => {});
    assert.equal(la.ok, true);
    a!.track("s4", () => ({ source: { nextMsn: 3, discontinuities: 1 } }));
    await sleep(400);
    await a!.stop(); // died
    const lb = await waitFor("the lease free", async () => {
      const r = await b!.acquire("s4", "sess-b", () => {});
      return r.ok ? r : undefined;
    }, 5000, 100);
    lb.release(); // e.g. a later admission check refused the publisher
    await b!.stop();
    const again = await b!.acquire("s4", "sess-b2", () => {});
    assert.equal(again.ok, true);
    if (again.ok) assert.deepEqual(again.continuation, { source: { nextMsn: 4, discontinuities: 1 } });
  }, 1000),
);
