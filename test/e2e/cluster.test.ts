// Three Wharf nodes on one PostgreSQL and one Redis: limits hold across the cluster, and a key revoked
// on one node is refused, and its live stream ended, on another within 2 s.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { pushTestPattern } from "../support/publisher.ts";
import { freshSchema, type TestSchema } from "../support/postgres.ts";
import { requireServices } from "../support/services.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";

const services = requireServices("WHARF_TEST_DATABASE_URL", "WHARF_TEST_REDIS_URL");

describe("cluster: three nodes on PostgreSQL and Redis", { skip: services.skip, timeout: 180_000 }, () => {
  let schema: TestSchema;
  let nodes: WharfProcess[] = [];
  const admin = "test-cluster-admin-" + Math.random().toString(36).slice(2);

  before(async () => {
    schema = await freshSchema(services.url("WHARF_TEST_DATABASE_URL"));
    const env = {
      WHARF_DATABASE_URL: schema.url,
      WHARF_REDIS_URL: services.url("WHARF_TEST_REDIS_URL"),
      WHARF_CLUSTER_NAME: schema.name, // a fresh key prefix per run
      WHARF_ADMIN_KEY: admin,
    };
    nodes.push(await startWharf({ env })); // the first one migrates and stores the admin key
    nodes.push(...(await Promise.all([startWharf({ env }), startWharf({ env })])));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    nodes = [];
    await schema?.drop();
  });

  test("readyz names PostgreSQL and Redis", async () => {
    const r = await nodes[1]!.api("GET", "/readyz");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.checks.redis, true);
    assert.equal(r.body.checks.database, true);
  });

  test("a key limited to 30 requests per minute gets exactly 30 of 60 requests spread over the three nodes", async () => {
    const k = await nodes[0]!.api("POST", "/v1/keys", { name: "rl", scopes: ["streams"], rateLimit: { requestsPerMinute: 30, burst: 30 } }, admin);
    assert.equal(k.status, 201, JSON.stringify(k.body));
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => nodes[i % 3]!.api("GET", "/v1/streams", undefined, k.body.secret)));
    const ok = answers.filter((a) => a.status === 200).length;
    assert.deepEqual([...new Set(answers.map((a) => a.status))].sort(), [200, 429]);
    assert.equal(ok, 30);
  });

  test("a key revoked on node 1 is refused on node 2, and its live stream there ended, within 2 s", async () => {
    const k = await nodes[0]!.api("POST", "/v1/keys", { name: "live", scopes: ["streams"] }, admin);
    assert.equal(k.status, 201);
    const s = await nodes[0]!.api("POST", "/v1/streams", { name: "cam", pipeline: "passthrough" }, k.body.secret);
    assert.equal(s.status, 201, JSON.stringify(s.body));
    const streamKey = s.body.streamKey as string;
    assert.ok(streamKey, JSON.stringify(s.body));
    const pub = pushTestPattern(`${nodes[1]!.rtmp}/${streamKey}`);
    try {
      await waitFor("the stream live on node 2", async () => (await fetch(`${nodes[1]!.http}/v1/streams/${s.body.id}/hls/index.m3u8`)).status === 200, 30_000, 200);
      assert.equal((await nodes[1]!.api("GET", "/v1/keys/" + k.body.key.id, undefined, admin)).status, 200);
      assert.equal((await nodes[1]!.api("GET", "/v1/streams", undefined, k.body.secret)).status, 200, "node 2 has the key cached");

      const revokedAt = Date.now();
      assert.equal((await nodes[0]!.api("DELETE", "/v1/keys/" + k.body.key.id, undefined, admin)).status, 200);
      await waitFor("node 2 refuses the key", async () => (await nodes[1]!.api("GET", "/v1/streams", undefined, k.body.secret)).status === 401, 2000, 50);
      await waitFor("node 2 ended the stream", async () => {
        const audit = await nodes[2]!.api("GET", `/v1/audit?action=stream.kicked&keyId=${s.body.id}`, undefined, admin);
        return (audit.body?.entries ?? audit.body?.data ?? audit.body ?? []).some?.((e: { target: string }) => e.target === s.body.id);
      }, 2000, 50);
      assert.ok(Date.now() - revokedAt <= 2500);
    } finally {
      await pub.stop(500);
    }
  });
});
