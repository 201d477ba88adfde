import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createAccounts } from "./accounts.ts";
import { hashSecret } from "./crypto.ts";
import { withAccounts } from "../../test/support/accounts.ts";

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), "wharf-accounts-"));
}

test("key lifecycle: create, list, update, revoke; events and audit", () =>
  withAccounts(async (a) => {
    const events: string[] = [];
    a.on("keyCreated", (k) => events.push(`created:${k.id}`));
    a.on("keyLimitsChanged", (id) => events.push(`changed:${id}`));
    a.on("keyRevoked", (id) => events.push(`revoked:${id}`));

    const { key, secret } = await a.createKey({
      name: "app", scopes: ["streams", "ai", "ai"], rateLimit: { requestsPerMinute: 600 }, ipAllowlist: ["10.0.0.0/8", "2001:db8::/32"],
      maxConcurrentStreams: 2, dailyCapMicros: 5_000_000, monthlyCapMicros: 50_000_000,
    });
    assert.match(secret, /^wk_[0-9A-Za-z]{40}$/);
    assert.equal(key.prefix, secret.slice(0, 11));
    assert.deepEqual(key.scopes, ["streams", "ai"]);
    assert.deepEqual(key.rateLimit, { requestsPerMinute: 600, burst: 100 });
    assert.deepEqual(key.ipAllowlist, ["10.0.0.0/8", "2001:db8::/32"]);
    assert.equal((key as unknown as Record<string, unknown>).secretHash, undefined, "public key objects carry no hash");

    assert.equal((await a.listKeys()).length, 1);
    const updated = await a.updateKey(key.id, { rateLimit: null, maxConcurrentStreams: 5 }, { actor: "key_admin", remoteIp: "127.0.0.1" });
    assert.equal(updated.rateLimit, null);
    assert.equal(updated.maxConcurrentStreams, 5);
    assert.equal(updated.dailyCapMicros, 5_000_000, "untouched fields stay");

    const revoked = await a.revokeKey(key.id);
    assert.ok(revoked.revokedAt);
    await a.revokeKey(key.id); // idempotent, no second event
    assert.equal((await a.listKeys()).length, 0);
    assert.equal((await a.listKeys({ includeRevoked: true })).length, 1);
    await assert.rejects(a.updateKey(key.id, { name: "x" }), /revoked/);
    await assert.rejects(a.revokeKey("key_nope"), /not found/);

    assert.deepEqual(events, [`created:${key.id}`, `changed:${key.id}`, `revoked:${key.id}`]);
    const audit = await a.queryAudit({ keyId: key.id });
    assert.deepEqual(audit.map((e) => e.action), ["key.revoked", "key.limits_changed", "key.created"]);
    const changed = audit[1]!;
    assert.equal(changed.actor, "key_admin");
    assert.equal(changed.remoteIp, "127.0.0.1");
    assert.deepEqual((changed.details.after as Record<string, unknown>).rateLimit, null);
    assert.deepEqual((await a.queryAudit({ action: "key.*", limit: 2 })).length, 2);
  }));

test("validation names the field", () =>
  withAccounts(async (a) => {
    await assert.rejects(a.createKey({ name: "", scopes: ["ai"] }), (e: Error & { field?: string }) => e.field === "name");
    await assert.rejects(a.createKey({ name: "x", scopes: [] }), (e: Error & { field?: string }) => e.field === "scopes");
    await assert.rejects(a.createKey({ name: "x", scopes: ["root" as "ai"] }), /unknown scope "root"/);
    await assert.rejects(a.createKey({ name: "x", scopes: ["ai"], ipAllowlist: ["10.0.0.0/8", "300.1.1.1/8"] }), (e: Error & { field?: string }) => e.field === "ipAllowlist[1]");
    await assert.rejects(a.createKey({ name: "x", scopes: ["ai"], rateLimit: { requestsPerMinute: 0 } }), (e: Error & { field?: string }) => e.field === "rateLimit.requestsPerMinute");
  }));

test("secrets never reach the database files in clear", () =>
  withAccounts(async (a, dir) => {
    const secrets: string[] = [];
    for (let i = 0; i < 5; i++) secrets.push((await a.createKey({ name: `k${i}`, scopes: ["ai"] })).secret);
    // Failed authentications with real-looking secrets must not be stored either.
    await a.authenticate("wk_thisIsNotAKeyButLooksLikeOneAAAAAAAAAAAAAAA", "1.2.3.4", "ai");
    await a.auth.flush();
    const files = readdirSync(dir).filter((f) => f.startsWith("wharf.db"));
    assert.ok(files.includes("wharf.db-wal"), "WAL mode");
    const bytes = Buffer.concat(files.map((f) => readFileSync(path.join(dir, f))));
    for (const s of [...secrets, "wk_thisIsNotAKeyButLooksLikeOneAAAAAAAAAAAAAAA"]) {
      assert.equal(bytes.includes(Buffer.from(s)), false, "secret in clear");
      assert.equal(bytes.includes(Buffer.from(s.slice(3))), false, "secret body in clear");
    }
    assert.ok(bytes.includes(Buffer.from(hashSecret(secrets[0]!))), "the hash is what is stored");
  }, { storageKind: "sqlite" }));

test("authenticate: 401 missing/unknown/revoked, 403 scope and IP, admin implies all, cache invalidated on revoke", () =>
  withAccounts(async (a) => {
    const { secret: aiSecret, key: aiKey } = await a.createKey({ name: "ai", scopes: ["ai"] });
    const { secret: adminSecret } = await a.createKey({ name: "admin", scopes: ["admin"] });
    const { secret: ipSecret } = await a.createKey({ name: "ip", scopes: ["streams"], ipAllowlist: ["10.0.0.0/8", "2001:db8::/32"] });

    let r = await a.authenticate(undefined, "1.1.1.1", "ai");
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.status, 401);
    r = await a.authenticate("wk_unknown", "1.1.1.1", "ai");
    assert.equal(!r.ok && r.status, 401);

    r = await a.authenticate(aiSecret, "1.1.1.1", "ai");
    assert.ok(r.ok && r.key.id === aiKey.id);
    r = await a.authenticate(aiSecret, "1.1.1.1", "streams");
    assert.equal(!r.ok && r.status, 403);
    assert.match(!r.ok ? r.message : "", /streams/);
    r = await a.authenticate(aiSecret, "1.1.1.1", "admin");
    assert.equal(!r.ok && r.status, 403);

    for (const scope of ["admin", "streams", "ai", "any"] as const) assert.ok((await a.authenticate(adminSecret, "1.1.1.1", scope)).ok, scope);

    assert.ok((await a.authenticate(ipSecret, "10.2.3.4", "streams")).ok);
    assert.ok((await a.authenticate(ipSecret, "::ffff:10.2.3.4", "streams")).ok, "IPv4-mapped IPv6");
    assert.ok((await a.authenticate(ipSecret, "2001:db8::1", "streams")).ok);
    r = await a.authenticate(ipSecret, "192.168.1.1", "streams");
    assert.equal(!r.ok && r.status, 403);
    assert.equal(!r.ok && r.reason, "ip");
    assert.equal(!r.ok && (await a.authenticate(ipSecret, "2001:db9::1", "streams")).ok, false);

    // Cached now; revoking must take effect at once.
    assert.ok((await a.authenticate(aiSecret, "1.1.1.1", "ai")).ok);
    await a.revokeKey(aiKey.id);
    r = await a.authenticate(aiSecret, "1.1.1.1", "ai");
    assert.equal(!r.ok && r.status, 401);
    assert.equal(!r.ok && r.reason, "revoked");
  }));

test("auth failures are audited, aggregated per address per window", () =>
  withAccounts(async (a) => {
    for (let i = 0; i < 50; i++) await a.authenticate("wk_bad" + i, "203.0.113.9", "ai");
    await a.authenticate("wk_bad", "203.0.113.10", "ai");
    let entries = await a.queryAudit({ action: "auth.failed" });
    assert.equal(entries.length, 2, "one immediate entry per address");
    await a.auth.flush();
    entries = await a.queryAudit({ action: "auth.failed" });
    assert.equal(entries.length, 3);
    const summary = entries.find((e) => e.details.aggregated)!;
    assert.equal(summary.remoteIp, "203.0.113.9");
    assert.equal(summary.details.count, 49);
  }));

test("ensureAdminKey: generated once, written 0600, re-read on later starts", async () => {
  const dir = tempDir();
  try {
    let a = createAccounts({ dataDir: dir, watchIntervalMs: 0 });
    const first = await a.ensureAdminKey();
    assert.equal(first.source, "generated");
    assert.ok(first.secret && first.created);
    assert.equal(statSync(path.join(dir, "admin-key")).mode & 0o777, 0o600);
    assert.ok((await a.authenticate(first.secret, "127.0.0.1", "admin")).ok);
    await a.close();

    a = createAccounts({ dataDir: dir, watchIntervalMs: 0 });
    const second = await a.ensureAdminKey();
    assert.equal(second.source, "file");
    assert.equal(second.created, false);
    assert.equal(second.secret, first.secret);
    assert.equal(second.key.id, first.key.id);
    assert.equal((await a.listKeys()).length, 1);
    await a.close();

    rmSync(path.join(dir, "admin-key"));
    a = createAccounts({ dataDir: dir, watchIntervalMs: 0 });
    const third = await a.ensureAdminKey();
    assert.equal(third.source, "unavailable");
    assert.equal(third.secret, undefined);
    assert.equal((await a.listKeys()).length, 1, "no second admin key");
    await a.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("ensureAdminKey with WHARF_ADMIN_KEY is idempotent and stores only the hash", async () => {
  const dir = tempDir();
  try {
    const secret = "operator-chosen-admin-secret-123";
    let a = createAccounts({ dataDir: dir, watchIntervalMs: 0 });
    const r1 = await a.ensureAdminKey(secret);
    assert.equal(r1.created, true);
    assert.equal(r1.secret, undefined);
    await assert.rejects(a.ensureAdminKey("short"), /at least 16/);
    await a.close();
    a = createAccounts({ dataDir: dir, watchIntervalMs: 0 });
    const r2 = await a.ensureAdminKey(secret);
    assert.equal(r2.created, false);
    assert.equal(r2.key.id, r1.key.id);
    assert.ok((await a.authenticate(secret, "::1", "streams")).ok);
    assert.equal(existsSync(path.join(dir, "admin-key")), false);
    await a.close();
    const bytes = Buffer.concat(readdirSync(dir).filter((f) => f.startsWith("wharf.db")).map((f) => readFileSync(path.join(dir, f))));
    assert.equal(bytes.includes(Buffer.from(secret)), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("stream records: create, get, list by owner, find by stream key, rotate, delete", () =>
  withAccounts(async (a) => {
    const { key } = await a.createKey({ name: "s", scopes: ["streams"] });
    const { key: other } = await a.createKey({ name: "o", scopes: ["streams"] });
    const deleted: string[] = [];
    a.on("streamDeleted", (id) => deleted.push(id));
    const s1 = await a.createStream({ ownerKeyId: key.id, name: "cam 1", pipeline: "live-video-to-video", config: { model_id: "noop" } });
    const s2 = await a.createStream({ ownerKeyId: other.id, name: "cam 2", pipeline: "transcode" });
    assert.match(s1.streamKey, /^sk_[0-9A-Za-z]{32}$/);
    assert.deepEqual((await a.getStream(s1.id))?.config, { model_id: "noop" });
    assert.deepEqual((await a.listStreams({ ownerKeyId: key.id })).map((s) => s.id), [s1.id]);
    assert.equal((await a.listStreams()).length, 2);
    assert.equal((await a.findStreamByKey(s2.streamKey))?.id, s2.id);
    const rotated = await a.rotateStreamKey(s2.id);
    assert.notEqual(rotated.streamKey, s2.streamKey);
    assert.equal(await a.findStreamByKey(s2.streamKey), undefined);
    const ok = await a.authenticateStreamKey(s1.streamKey, "127.0.0.1");
    assert.ok(ok.ok && ok.stream.id === s1.id && ok.key.id === key.id);
    const bad = await a.authenticateStreamKey("sk_nope", "127.0.0.1");
    assert.equal(!bad.ok && bad.status, 401);
    await a.revokeKey(other.id);
    const revokedOwner = await a.authenticateStreamKey(rotated.streamKey, "127.0.0.1");
    assert.equal(!revokedOwner.ok && revokedOwner.reason, "revoked");
    await a.deleteStream(s1.id);
    assert.equal(await a.findStreamByKey(s1.streamKey), undefined);
    assert.equal((await a.listStreams()).length, 1);
    assert.equal((await a.listStreams({ includeDeleted: true })).length, 2);
    assert.equal((await a.authenticateStreamKey(s1.streamKey, "127.0.0.1")).ok, false, "deleted stream");
    await assert.rejects(a.deleteStream(s1.id), /not found/);
    assert.deepEqual(deleted, [s1.id]);
    await assert.rejects(a.createStream({ ownerKeyId: "key_nope", name: "x", pipeline: "transcode" }), /ownerKeyId|does not exist/);
  }));

test("a revocation by another process (CLI) is picked up and emitted", async () => {
  const dir = tempDir();
  const server = createAccounts({ dataDir: dir, watchIntervalMs: 100 });
  const cli = createAccounts({ dataDir: dir, watchIntervalMs: 0 });
  try {
    const { key, secret } = await server.createKey({ name: "live", scopes: ["streams"] });
    assert.ok((await server.authenticate(secret, "127.0.0.1", "streams")).ok); // cached
    await new Promise((r) => setTimeout(r, 250));
    const keepAlive = setTimeout(() => {}, 5000); // the watcher's timer is unref'd
    const seen = new Promise<string>((resolve) => server.once("keyRevoked", resolve));
    const t0 = Date.now();
    await cli.revokeKey(key.id);
    assert.equal(await seen, key.id);
    clearTimeout(keepAlive);
    assert.ok(Date.now() - t0 < 2000, "within 2 s");
    assert.equal((await server.authenticate(secret, "127.0.0.1", "streams")).ok, false, "cache invalidated");
  } finally {
    await cli.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("ensureAdminKey adopts an existing admin-key file instead of overwriting it", async () => {
  const dir = tempDir();
  try {
    const secret = "wk_admin_preexisting_secret_0123456789";
    writeFileSync(path.join(dir, "admin-key"), secret + "\n", { mode: 0o600 });
    let a = createAccounts({ dataDir: dir, watchIntervalMs: 0 });
    const r = await a.ensureAdminKey();
    assert.equal(r.secret, secret);
    assert.equal(r.created, true);
    assert.equal(readFileSync(path.join(dir, "admin-key"), "utf8").trim(), secret, "file untouched");
    assert.ok((await a.authenticate(secret, "127.0.0.1", "admin")).ok);
    await a.close();
    a = createAccounts({ dataDir: dir, watchIntervalMs: 0 });
    const again = await a.ensureAdminKey();
    assert.equal(again.key.id, r.key.id);
    assert.equal(again.created, false);
    assert.equal((await a.listKeys()).length, 1);
    await a.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
