import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { createAccounts, type Accounts } from "./accounts.ts";
import { createGuard } from "./guard.ts";
import { registerAccountRoutes } from "./routes.ts";

async function setup(): Promise<{ app: FastifyInstance; accounts: Accounts; admin: string; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), "wharf-routes-"));
  const accounts = createAccounts({ dataDir: dir, watchIntervalMs: 0 });
  const { secret: admin } = await accounts.createKey({ name: "root", scopes: ["admin"] });
  const app = Fastify();
  const guard = createGuard(accounts);
  await registerAccountRoutes(app, { accounts, authorize: guard.requireScope });
  await app.ready();
  return {
    app, accounts, admin,
    cleanup: async () => {
      await app.close();
      await accounts.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const bearer = (s: string) => ({ authorization: `Bearer ${s}` });

test("keys API: create, list, get, patch, revoke; auth errors", async () => {
  const { app, accounts, admin, cleanup } = await setup();
  try {
    let res = await app.inject({ method: "GET", url: "/v1/keys" });
    assert.equal(res.statusCode, 401);
    assert.match(res.headers["www-authenticate"] as string, /^Bearer/);
    assert.deepEqual(Object.keys(res.json()).sort(), ["error", "message"]);
    res = await app.inject({ method: "GET", url: "/v1/keys", headers: { authorization: "Basic abc" } });
    assert.equal(res.statusCode, 401);
    res = await app.inject({ method: "GET", url: "/v1/keys", headers: bearer("wk_wrong") });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error, "unauthorized");

    res = await app.inject({
      method: "POST", url: "/v1/keys", headers: bearer(admin),
      payload: { name: "app", scopes: ["streams", "ai"], rateLimit: { requestsPerMinute: 600 }, ipAllowlist: ["10.0.0.0/8", "127.0.0.1"], maxConcurrentStreams: 5, spendCaps: { daily: 5, monthly: 50 } },
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.headers["cache-control"], "no-store");
    const created = res.json();
    assert.match(created.secret, /^wk_/);
    assert.equal(created.key.name, "app");
    assert.deepEqual(created.key.spendCaps, { daily: 5, monthly: 50, currency: "USD" });
    assert.deepEqual(created.key.rateLimit, { requestsPerMinute: 600, burst: 100 });
    assert.deepEqual(created.key.ipAllowlist, ["10.0.0.0/8", "127.0.0.1/32"]);
    assert.equal(created.key.revokedAt, null);
    const id = created.key.id as string;

    // A non-admin key cannot manage keys: 403.
    res = await app.inject({ method: "GET", url: "/v1/keys", headers: bearer(created.secret) });
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().error, "forbidden");
    // IP outside the allowlist: 403 (inject comes from 127.0.0.1, so use a key restricted elsewhere).
    const { secret: remoteOnly } = await accounts.createKey({ name: "far", scopes: ["admin"], ipAllowlist: ["192.0.2.0/24"] });
    res = await app.inject({ method: "GET", url: "/v1/keys", headers: bearer(remoteOnly) });
    assert.equal(res.statusCode, 403);
    assert.match(res.json().message, /allowlist/);

    res = await app.inject({ method: "GET", url: "/v1/keys", headers: bearer(admin) });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().keys.length, 3);
    assert.ok(!res.body.includes(created.secret), "secrets are never listed");
    assert.ok(!res.body.includes("secretHash"));

    res = await app.inject({ method: "GET", url: `/v1/keys/${id}`, headers: bearer(admin) });
    assert.equal(res.json().id, id);
    res = await app.inject({ method: "GET", url: "/v1/keys/key_nope", headers: bearer(admin) });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error, "not_found");

    res = await app.inject({ method: "PATCH", url: `/v1/keys/${id}`, headers: bearer(admin), payload: { spendCaps: { daily: null }, maxConcurrentStreams: 1 } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().spendCaps.daily, null);
    assert.equal(res.json().spendCaps.monthly, 50);
    assert.equal(res.json().maxConcurrentStreams, 1);

    // 0 is a cap ("nothing"), null is "no cap": the two must never be confused by schema coercion.
    res = await app.inject({ method: "PATCH", url: `/v1/keys/${id}`, headers: bearer(admin), payload: { spendCaps: { daily: 0 }, maxConcurrentStreams: 0, rateLimit: null } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().spendCaps.daily, 0);
    assert.equal(res.json().maxConcurrentStreams, 0);
    assert.equal(res.json().rateLimit, null);
    assert.equal((await accounts.getKey(id))?.dailyCapMicros, 0);

    const revokedEvents: string[] = [];
    accounts.on("keyRevoked", (k) => revokedEvents.push(k));
    res = await app.inject({ method: "DELETE", url: `/v1/keys/${id}`, headers: bearer(admin) });
    assert.equal(res.statusCode, 200);
    assert.ok(res.json().revokedAt);
    assert.deepEqual(revokedEvents, [id]);
    res = await app.inject({ method: "GET", url: "/v1/usage", headers: bearer(created.secret) });
    assert.equal(res.statusCode, 401);

    res = await app.inject({ method: "GET", url: "/v1/audit?action=key.*&limit=10", headers: bearer(admin) });
    assert.equal(res.statusCode, 200);
    const actions = res.json().entries.map((e: { action: string }) => e.action);
    assert.deepEqual(actions.slice(0, 2), ["key.revoked", "key.limits_changed"]);
    const change = res.json().entries[1];
    assert.equal(change.target, id);
    assert.equal(change.remoteIp, "127.0.0.1");
    res = await app.inject({ method: "GET", url: `/v1/audit?key=${id}&limit=1`, headers: bearer(admin) });
    assert.equal(res.json().entries.length, 1);
    res = await app.inject({ method: "GET", url: "/v1/audit?action=auth.failed", headers: bearer(admin) });
    assert.ok(res.json().entries.length >= 1);
  } finally {
    await cleanup();
  }
});

test("keys API: 400s name the field; last admin is protected", async () => {
  const { app, accounts, admin, cleanup } = await setup();
  try {
    const post = (payload: unknown) => app.inject({ method: "POST", url: "/v1/keys", headers: bearer(admin), payload: payload as object });
    let res = await post({ scopes: ["ai"] });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, "invalid_request");
    assert.match(res.json().message, /name/);
    res = await post({ name: "x", scopes: ["root"] });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /scopes/);
    res = await post({ name: "x", scopes: ["ai"], ipAllowlist: ["not-an-ip"] });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /ipAllowlist\[0\]/);
    res = await post({ name: "x", scopes: ["ai"], spendCaps: { daily: -1 } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /daily/);
    res = await post({ name: "x", scopes: ["ai"], rateLimit: { requestsPerMinute: 1.5 } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /requestsPerMinute/);
    res = await app.inject({ method: "POST", url: "/v1/keys", headers: { ...bearer(admin), "content-type": "application/json" }, payload: "{not json" });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(Object.keys(res.json()).sort(), ["error", "message"]);

    const rootId = (await accounts.listKeys())[0]!.id;
    res = await app.inject({ method: "DELETE", url: `/v1/keys/${rootId}`, headers: bearer(admin) });
    assert.equal(res.statusCode, 409);
    res = await app.inject({ method: "PATCH", url: `/v1/keys/${rootId}`, headers: bearer(admin), payload: { scopes: ["ai"] } });
    assert.equal(res.statusCode, 409);
    assert.match(res.json().message, /scopes/);
    res = await app.inject({ method: "GET", url: "/v1/usage?from=yesterday", headers: bearer(admin) });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /from/);
  } finally {
    await cleanup();
  }
});

test("rate limit: 429 with Retry-After and a JSON body", async () => {
  const { app, accounts, cleanup } = await setup();
  try {
    const { secret } = await accounts.createKey({ name: "slow", scopes: ["ai"], rateLimit: { requestsPerMinute: 6, burst: 2 } });
    const get = () => app.inject({ method: "GET", url: "/v1/usage", headers: bearer(secret) });
    const r1 = await get();
    assert.equal(r1.statusCode, 200, r1.body);
    assert.equal(r1.headers["x-ratelimit-remaining"], "1");
    assert.equal((await get()).statusCode, 200);
    const r3 = await get();
    assert.equal(r3.statusCode, 429);
    assert.equal(r3.headers["retry-after"], "10");
    assert.equal(r3.json().error, "rate_limited");
    assert.match(r3.json().message, /6 requests per minute/);
  } finally {
    await cleanup();
  }
});

test("usage API: JSON groups, CSV by format and Accept, non-admin sees only its own", async () => {
  const { app, accounts, admin, cleanup } = await setup();
  try {
    const { key, secret } = await accounts.createKey({ name: "cust", scopes: ["ai"] });
    const { key: other } = await accounts.createKey({ name: "other", scopes: ["ai"] });
    const ts = Date.UTC(2024, 4, 3, 8);
    // 1e14 wei paid in tickets = 0.0001 ETH = 0.30 USD at the default ethPrice of 3000.
    await accounts.recordBatchUsage({ keyId: key.id, pipeline: "text-to-image", units: 1000, chargeMicros: 1_500_000, paidWei: 100_000_000_000_000n, ts });
    await accounts.recordBatchUsage({ keyId: key.id, pipeline: "llm", units: 256, chargeMicros: 250_000, ts: ts + 86_400_000 });
    await accounts.recordBatchUsage({ keyId: other.id, pipeline: "llm", units: 256, chargeMicros: 1, ts });

    const range = "from=2024-05-01&to=2024-06-01";
    let res = await app.inject({ method: "GET", url: `/v1/usage?${range}&groupBy=pipeline`, headers: bearer(admin) });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.from, "2024-05-01T00:00:00.000Z");
    assert.deepEqual(body.groups.map((g: { group: string; records: number }) => [g.group, g.records]), [["llm", 2], ["text-to-image", 1]]);
    assert.deepEqual(body.total, { records: 3, charge: 1.750001, chargeMicros: 1_750_001, paidWei: "100000000000000", paidCost: 0.3, margin: 1.450001 });
    const t2i = body.groups.find((g: { group: string }) => g.group === "text-to-image");
    assert.deepEqual([t2i.paidWei, t2i.paidCost, t2i.margin], ["100000000000000", 0.3, 1.2]);

    res = await app.inject({ method: "GET", url: `/v1/usage?${range}&groupBy=day&key=${key.id}`, headers: bearer(admin) });
    assert.deepEqual(res.json().groups.map((g: { group: string; charge: number }) => [g.group, g.charge]), [["2024-05-03", 1.5], ["2024-05-04", 0.25]]);

    res = await app.inject({ method: "GET", url: `/v1/usage?${range}&format=csv`, headers: bearer(admin) });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers["content-type"] as string, /^text\/csv/);
    assert.match(res.headers["content-disposition"] as string, /attachment; filename="wharf-usage-2024-05-01-2024-06-01\.csv"/);
    const lines = res.body.trimEnd().split("\r\n");
    assert.equal(lines.length, 4);
    assert.match(lines[0]!, /^id,time,kind,key_id,pipeline/);

    res = await app.inject({ method: "GET", url: `/v1/usage?${range}&groupBy=day`, headers: { ...bearer(admin), accept: "text/csv" } });
    assert.match(res.headers["content-type"] as string, /^text\/csv/);
    assert.equal(res.body.split("\r\n")[0], "day,records,units,duration_seconds,orchestrator_cost_wei,paid_wei,charge,currency");
    assert.ok(res.body.includes("2024-05-03,2,1256,0.000,0,100000000000000,1.500001,USD"), res.body);

    // A non-admin key: own usage only.
    res = await app.inject({ method: "GET", url: `/v1/usage?${range}`, headers: bearer(secret) });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().records.length, 2);
    assert.ok(res.json().records.every((r: { keyId: string }) => r.keyId === key.id));
    res = await app.inject({ method: "GET", url: `/v1/usage?${range}&key=${other.id}`, headers: bearer(secret) });
    assert.equal(res.statusCode, 403);
    // ...and no audit access.
    res = await app.inject({ method: "GET", url: "/v1/audit", headers: bearer(secret) });
    assert.equal(res.statusCode, 403);
  } finally {
    await cleanup();
  }
});

test("routes under the server's strict validation (server/api/validation.ts)", async () => {
  const { installValidation } = await import("../api/validation.ts");
  const dir = mkdtempSync(path.join(tmpdir(), "wharf-routes-strict-"));
  const accounts = createAccounts({ dataDir: dir, watchIntervalMs: 0 });
  const app = Fastify();
  try {
    installValidation(app);
    const { secret } = await accounts.createKey({ name: "root", scopes: ["admin"] });
    await registerAccountRoutes(app, { accounts, authorize: createGuard(accounts).requireScope });
    const post = (payload: object) => app.inject({ method: "POST", url: "/v1/keys", headers: bearer(secret), payload });
    let res = await post({ name: "a", scopes: ["ai"], spendCaps: { daily: 0, monthly: null } });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual(res.json().key.spendCaps, { daily: 0, monthly: null, currency: "USD" });
    res = await post({ name: "a", scopes: ["ai"], spendcaps: { daily: 1 } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /spendcaps/);
    res = await app.inject({ method: "GET", url: "/v1/usage?groupBy=week", headers: bearer(secret) });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /groupBy/);
  } finally {
    await app.close();
    await accounts.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
