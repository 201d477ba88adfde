// The accounts on PostgreSQL: the same behaviour as on SQLite (the accounts tests run on both), plus what
// only a shared database has to prove: concurrent migrations, concurrent idempotent inserts, exact wei sums, rollups.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { PG_MIGRATIONS, PostgresStorage } from "./postgres.ts";
import { utcDayStart, utcMonthStart } from "./pricing.ts";
import type { NewUsageRecord } from "./types.ts";
import { freshSchema } from "../../test/support/postgres.ts";
import { requireServices } from "../../test/support/services.ts";
import { REPO } from "../../test/support/wharf.ts";

const pg = requireServices("WHARF_TEST_DATABASE_URL");

/** The storage-independent accounts tests; each also runs on SQLite in its own file. */
const SHARED_TESTS = ["server/accounts/accounts.test.ts", "server/accounts/limits.test.ts", "server/accounts/usage-ledger.test.ts", "server/accounts/usage-tally.test.ts", "server/ai/billing.test.ts"];

test("the accounts tests pass on PostgreSQL as on SQLite", { skip: pg.skip }, () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=dot", ...SHARED_TESTS], {
    cwd: REPO,
    env: { ...process.env, WHARF_TEST_ACCOUNTS_STORAGE: "postgres", WHARF_TEST_DATABASE_URL: pg.url("WHARF_TEST_DATABASE_URL") },
    encoding: "utf8",
    timeout: 240_000,
  });
  assert.equal(r.status, 0, `accounts tests on PostgreSQL failed:\n${r.stdout}\n${r.stderr}`);
});

const usage = (keyId: string, requestId: string | null, chargeMicros: number, wei: string, ts = Date.now()): NewUsageRecord => ({
  ts, kind: "batch", keyId, pipeline: "text-to-image", model: "m", streamId: null, requestId, units: 1, durationMs: 5,
  orchestrator: "https://o", orchestratorCostWei: wei, paidWei: wei, chargeMicros, currency: "USD",
});

test("several nodes starting together migrate once", { skip: pg.skip }, async () => {
  const schema = await freshSchema(pg.url("WHARF_TEST_DATABASE_URL"));
  try {
    const nodes = await Promise.all([1, 2, 3].map(() => PostgresStorage.open(schema.url, { max: 2 })));
    const [v] = await nodes[0]!.sql<{ version: number }[]>`SELECT version FROM schema_version`;
    assert.equal(v!.version, PG_MIGRATIONS.length);
    assert.equal((await nodes[0]!.sql`SELECT * FROM schema_version`).length, 1);
    await Promise.all(nodes.map((n) => n.close()));
  } finally {
    await schema.drop();
  }
});

test("usage: concurrent inserts of one request id store one record; wei sums stay exact past 2^64; rollups follow inserts", { skip: pg.skip }, async () => {
  const schema = await freshSchema(pg.url("WHARF_TEST_DATABASE_URL"));
  const a = await PostgresStorage.open(schema.url);
  const b = await PostgresStorage.open(schema.url);
  try {
    const t = Date.UTC(2026, 4, 20, 12);
    const bigWei = "123456789012345678901234567890"; // > 2^64
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).usage.insert(usage("key_1", "req-1", 1000, bigWei, t))));
    assert.equal(new Set(results.map((r) => r.id)).size, 1, "one record for one request id");
    await Promise.all(Array.from({ length: 10 }, (_, i) => a.usage.insert(usage("key_1", `r${i}`, 10, bigWei, t + i))));
    await a.usage.insert(usage("key_1", null, 5, "1", Date.UTC(2026, 4, 1))); // earlier this month
    await a.usage.insert(usage("key_1", null, 7, "1", Date.UTC(2026, 3, 30))); // last month

    const [g] = await a.usage.group({ from: t, to: t + 1000 }, "key");
    assert.equal(g!.records, 11);
    assert.equal(g!.orchestratorCostWei, (11n * BigInt(bigWei)).toString());
    assert.equal(g!.paidWei, (11n * BigInt(bigWei)).toString());
    assert.equal(g!.chargeMicros, 1100);
    const [d] = await a.usage.group({ from: 0, to: Number.MAX_SAFE_INTEGER }, "day");
    assert.equal(d!.group, "2026-04-30");

    assert.deepEqual(await b.usage.spentSince("key_1", utcDayStart(t), utcMonthStart(t)), { day: 1100, month: 1105 });
    assert.equal(await b.usage.sumCharges("key_1", utcMonthStart(t), Number.MAX_SAFE_INTEGER), 1105, "the rollups agree with the rows");
  } finally {
    await a.close();
    await b.close();
    await schema.drop();
  }
});

test("the audit log is append-only in PostgreSQL too", { skip: pg.skip }, async () => {
  const schema = await freshSchema(pg.url("WHARF_TEST_DATABASE_URL"));
  const s = await PostgresStorage.open(schema.url);
  try {
    const e = await s.audit.append({ actor: "system", action: "key.created", target: "k", details: { n: 1 }, remoteIp: null });
    assert.deepEqual(e.details, { n: 1 });
    await assert.rejects(s.sql`UPDATE audit_log SET actor = 'x'`, /append-only/);
    await assert.rejects(s.sql`DELETE FROM audit_log`, /append-only/);
  } finally {
    await s.close();
    await schema.drop();
  }
});
