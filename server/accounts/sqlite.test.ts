// Schema migrations on a database written by an older Wharf.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { MIGRATIONS, openDatabase, SqliteStorage } from "./sqlite.ts";

test("migration 2 keeps every usage row and its id; new ids continue after them", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "wharf-migrate-"));
  const file = path.join(dir, "wharf.db");
  try {
    // A version-1 database with usage rows.
    const old = new Database(file);
    old.exec(MIGRATIONS[0]!);
    old.exec("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1)");
    const ins = old.prepare(
      "INSERT INTO usage (ts, kind, key_id, pipeline, model, request_id, units, orchestrator_cost_wei, charge_micros, currency) VALUES (?, 'batch', 'k1', 'llm', 'm', ?, ?, '5', ?, 'USD')",
    );
    for (let i = 0; i < 5; i++) ins.run(1000 + i, `req-${i}`, i, 10 * i);
    old.close();

    const db = openDatabase(file);
    assert.equal((db.prepare("SELECT version FROM schema_version").get() as { version: number }).version, MIGRATIONS.length);
    const rows = db.prepare("SELECT id, request_id, units, charge_micros FROM usage ORDER BY id").all();
    assert.deepEqual(rows, [0, 1, 2, 3, 4].map((i) => ({ id: i + 1, request_id: `req-${i}`, units: i, charge_micros: 10 * i })));
    assert.match(String((db.prepare("SELECT sql FROM sqlite_master WHERE name = 'usage'").get() as { sql: string }).sql), /id\s+INTEGER PRIMARY KEY,/);
    const idx = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage' ORDER BY name").all();
    assert.deepEqual(idx, [{ name: "usage_key_ts" }, { name: "usage_request" }, { name: "usage_ts" }]);
    // Still unique per request id; the next row gets the next id.
    assert.throws(() => db.prepare("INSERT INTO usage (ts, kind, key_id, pipeline, request_id, charge_micros, currency) VALUES (1, 'batch', 'k1', 'llm', 'req-1', 0, 'USD')").run(), /UNIQUE/);
    const r = db.prepare("INSERT INTO usage (ts, kind, key_id, pipeline, request_id, charge_micros, currency) VALUES (1, 'batch', 'k1', 'llm', 'req-9', 0, 'USD')").run();
    assert.equal(Number(r.lastInsertRowid), 6);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the database, its WAL and shared-memory files are readable by the owner only (0600), also when an older Wharf left them 0644", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "wharf-mode-"));
  const file = path.join(dir, "wharf.db");
  const mode = (f: string) => statSync(f).mode & 0o777;
  try {
    const db = openDatabase(file);
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    for (const f of [file, `${file}-wal`, `${file}-shm`]) assert.equal(mode(f), 0o600, f);
    db.close();
    chmodSync(file, 0o644);
    openDatabase(file).close();
    assert.equal(mode(file), 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the key change counter moves with another connection's key changes, not with its usage commits (the ledger thread's)", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "wharf-keywatch-"));
  const file = path.join(dir, "wharf.db");
  const storage = new SqliteStorage(file, { fsyncIntervalMs: 100 });
  const other = openDatabase(file, { synchronous: "NORMAL" });
  try {
    const c0 = await storage.externalChangeCounter();
    // Usage committed by another connection: the ledger thread's background records.
    const rec = { ts: Date.now(), kind: "batch" as const, keyId: "k1", pipeline: "apps", model: "a/b", streamId: null, requestId: "run-1", units: 3, durationMs: 0, orchestrator: "https://o", orchestratorCostWei: "1", paidWei: "0", chargeMicros: 1, currency: "USD" };
    await storage.usage.insert(rec, { background: true });
    other.prepare("INSERT INTO audit_log (ts, actor, action, target, details) VALUES (?, 'cli', 'x', 'y', '{}')").run(Date.now());
    assert.equal(await storage.externalChangeCounter(), c0, "no key changed");
    // A key added, then revoked, by another process (the CLI).
    other.prepare("INSERT INTO api_keys (id, name, prefix, secret_hash, scopes, created_at, updated_at) VALUES ('key_x', 'x', 'wh_x', 'h', '[]', 1, 1)").run();
    const c1 = await storage.externalChangeCounter();
    assert.notEqual(c1, c0);
    other.prepare("UPDATE api_keys SET revoked_at = 2, updated_at = 2 WHERE id = 'key_x'").run();
    assert.notEqual(await storage.externalChangeCounter(), c1);
  } finally {
    other.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
