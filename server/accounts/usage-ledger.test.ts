// The usage ledger in both modes (commit on the event loop + fsync within an interval,
// commit with an fsync on the ledger thread): group commits, idempotent request ids,
// one bad record not failing its batch; and refunds of batch requests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { withAccounts } from "../../test/support/accounts.ts";
import { openDatabase } from "./sqlite-schema.ts";
import { UsageLedger } from "./usage-ledger.ts";
import type { LedgerCounters } from "./ledger-signal.ts";
import type { NewUsageRecord } from "./types.ts";

const record = (keyId: string, requestId: string, units = 10): NewUsageRecord => ({
  ts: Date.now(), kind: "batch", keyId, pipeline: "llm", model: "m", streamId: null, requestId, units, durationMs: 0,
  orchestrator: "https://o", orchestratorCostWei: "1000", paidWei: "900", chargeMicros: 7, currency: "USD",
});

for (const fsyncMs of [100, 0]) {
  test(`ledger (usageFsyncIntervalMs ${fsyncMs}): a batch commits together, duplicates are idempotent, a bad record fails alone`, () =>
    withAccounts(async (a) => {
      const { key } = await a.createKey({ name: "k", scopes: ["ai"] });
      const usage = a.storage.usage;
      // Issued in one event-loop turn: one group commit.
      const rows = await Promise.all(Array.from({ length: 20 }, (_, i) => usage.insert(record(key.id, `r${i}`, i))));
      assert.equal(new Set(rows.map((r) => r.id)).size, 20);
      assert.deepEqual(rows.map((r) => r.units), Array.from({ length: 20 }, (_, i) => i));

      const again = await usage.insert(record(key.id, "r3", 999));
      assert.equal(again.id, rows[3]!.id, "a recorded request id returns the existing record");
      assert.equal(again.units, 3);

      const bad = { ...record(key.id, "bad"), kind: "nonsense" } as unknown as NewUsageRecord; // violates the CHECK constraint
      const mixed = await Promise.allSettled([usage.insert(record(key.id, "ok1")), usage.insert(bad), usage.insert(record(key.id, "ok2"))]);
      assert.deepEqual(mixed.map((m) => m.status), ["fulfilled", "rejected", "fulfilled"]);
      assert.match(String((mixed[1] as PromiseRejectedResult).reason), /check constraint/i);
      assert.ok(await usage.findByRequest("ok1"));
      assert.ok(await usage.findByRequest("ok2"));
      assert.equal(await usage.findByRequest("bad"), undefined);
    }, { usageFsyncIntervalMs: fsyncMs }));
}

test("refundBatchUsage negates a batch record once, audited; nothing to refund for unknown ids", () =>
  withAccounts(async (a) => {
    const { key } = await a.createKey({ name: "k", scopes: ["ai"] });
    const orig = await a.recordBatchUsage({ keyId: key.id, pipeline: "text-to-image", units: 4096, orchestratorCostWei: "5000000000000", requestId: "req-1" });
    assert.ok(orig.chargeMicros > 0);
    const refund = await a.refundBatchUsage("req-1", "result could not be copied");
    assert.ok(refund);
    assert.equal(refund.requestId, "req-1:refund");
    assert.equal(refund.units, -4096);
    assert.equal(refund.chargeMicros, -orig.chargeMicros);
    assert.equal(refund.orchestratorCostWei, "-5000000000000");
    const second = await a.refundBatchUsage("req-1", "again");
    assert.equal(second?.id, refund.id, "idempotent");
    assert.equal(await a.refundBatchUsage("no-such-request", "x"), undefined);
    const day = new Date(orig.ts);
    const total = await a.storage.usage.sumCharges(key.id, day.getTime() - 1000, day.getTime() + 60_000);
    assert.equal(total, 0, "the key's spend nets to zero");
    const audit = await a.queryAudit({ action: "usage.refund" });
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.details.requestId, "req-1");
  }, { usageFsyncIntervalMs: 100 }));

test("settleBatchUsage brings a request's records to the units its answer used, once; nothing when they match", () =>
  withAccounts(async (a) => {
    const { key } = await a.createKey({ name: "k", scopes: ["ai"] });
    // A streamed LLM answer billed by max_tokens (256) before its first byte; it used 6 tokens.
    const orig = await a.recordBatchUsage({ keyId: key.id, pipeline: "llm", units: 256, orchestratorCostWei: "256000", paidWei: "300000", requestId: "llm-1" });
    const settle = await a.settleBatchUsage("llm-1", { units: 6, orchestratorCostWei: 6000n });
    assert.ok(settle);
    assert.equal(settle.requestId, "llm-1:settle");
    assert.equal(settle.units, 6 - 256);
    assert.equal(settle.orchestratorCostWei, String(6000 - 256000));
    assert.equal(settle.paidWei, "0", "the tickets sent stay on the first record");
    const used = await a.recordBatchUsage({ keyId: key.id, pipeline: "llm", units: 6, orchestratorCostWei: "6000", requestId: "llm-6" });
    assert.equal(orig.chargeMicros + settle.chargeMicros, used.chargeMicros, "charged as if billed by 6 tokens from the start");
    assert.equal((await a.settleBatchUsage("llm-1", { units: 6, orchestratorCostWei: 6000n }))?.id, settle.id, "idempotent");
    assert.equal(await a.settleBatchUsage("llm-6", { units: 6, orchestratorCostWei: 6000n }), undefined, "nothing to settle");
    assert.equal(await a.settleBatchUsage("no-such-request", { units: 1, orchestratorCostWei: 0n }), undefined);
    const records = await a.listUsage({ from: 0, to: Date.now() + 1000, keyId: key.id });
    assert.equal(records.filter((r) => r.requestId?.startsWith("llm-1")).reduce((n, r) => n + r.units, 0), 6);
  }, { usageFsyncIntervalMs: 100 }));

test("interval mode: the ledger thread sleeps while idle, and fsyncs a record committed then within the interval", { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-ledger-"));
  const file = join(dir, "wharf.db");
  const db = openDatabase(file, { synchronous: "NORMAL", autoCheckpoint: false });
  const backstopMs = 600;
  const ledger = new UsageLedger(db, file, { fsyncIntervalMs: 100, checkpointIntervalMs: backstopMs });
  const diff = (a: LedgerCounters, b: LedgerCounters) => ({
    commitWakeups: b.commitWakeups - a.commitWakeups, walChecks: b.walChecks - a.walChecks, fsyncs: b.fsyncs - a.fsyncs,
  });
  const until = async (what: string, ok: () => boolean, ms: number) => {
    const t0 = performance.now();
    while (!ok()) {
      if (performance.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}; counters ${JSON.stringify(ledger.counters())}`);
      await sleep(2);
    }
    return performance.now() - t0;
  };
  try {
    // The thread is up: its first backstop check fsyncs the WAL the schema was written to.
    await until("the first backstop check", () => ledger.counters().fsyncs > 0, 5000);
    await sleep(20);
    // Idle: over 1.1 s the thread wakes only for the backstop (an fstat every 600 ms), never for
    // a commit, and there is nothing to fsync. (The old thread checked the WAL 11 times.)
    let before = ledger.counters();
    await sleep(1100);
    let d = diff(before, ledger.counters());
    assert.equal(d.commitWakeups, 0);
    assert.ok(d.walChecks >= 1 && d.walChecks <= 2, `backstop checks while idle: ${d.walChecks}`);
    assert.equal(d.fsyncs, 0, "nothing changed, nothing fsynced");

    // A record committed while idle: the thread wakes and fsyncs it within the interval, and
    // records committed meanwhile share that fsync.
    await sleep(backstopMs / 2); // away from the backstop's next check
    before = ledger.counters();
    const t0 = performance.now();
    await ledger.insert(record("k1", "idle-1"));
    await sleep(30);
    await ledger.insert(record("k1", "idle-2"));
    const woke = await until("a commit wakes the thread", () => ledger.counters().commitWakeups > before.commitWakeups, 100);
    await until("the fsync after the commits", () => ledger.counters().fsyncs > before.fsyncs, 400);
    const fsyncedAfter = performance.now() - t0;
    d = diff(before, ledger.counters());
    assert.equal(d.commitWakeups, 1, "one wake-up for both commits");
    assert.equal(d.fsyncs, 1, "one fsync for both commits");
    assert.ok(fsyncedAfter >= 95, `not before the interval (grouping): ${fsyncedAfter.toFixed(1)} ms`);
    // 100 ms plus the fsync itself; slack for a loaded test machine.
    assert.ok(fsyncedAfter < 100 + 150, `fsynced ${fsyncedAfter.toFixed(1)} ms after the commit (woke after ${woke.toFixed(1)} ms)`);

    // Other writers of the main connection do not signal: the backstop fsyncs them.
    before = ledger.counters();
    db.prepare("INSERT INTO audit_log (ts, actor, action, target, details) VALUES (?, ?, ?, ?, ?)").run(Date.now(), "test", "test.write", "x", "{}");
    await until("the backstop fsyncs another writer's commit", () => ledger.counters().fsyncs > before.fsyncs, backstopMs + 300);
    assert.equal(diff(before, ledger.counters()).commitWakeups, 0);
  } finally {
    await ledger.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("interval mode: a background record is committed by the ledger thread and fsynced within the interval; others on the main connection", { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-ledger-"));
  const file = join(dir, "wharf.db");
  const db = openDatabase(file, { synchronous: "NORMAL", autoCheckpoint: false });
  const ledger = new UsageLedger(db, file, { fsyncIntervalMs: 100, checkpointIntervalMs: 60_000 });
  try {
    const fsynced = async (since: LedgerCounters) => {
      const t0 = performance.now();
      while (ledger.counters().fsyncs === since.fsyncs) {
        assert.ok(performance.now() - t0 < 1000, `no fsync after a commit: ${JSON.stringify(ledger.counters())}`);
        await sleep(5);
      }
    };
    let before = ledger.counters();
    const fg = await ledger.insert(record("k1", "fg"));
    assert.equal(ledger.counters().threadCommits, before.threadCommits, "a record the caller waits for commits on the main connection");
    await fsynced(before);

    before = ledger.counters();
    const bg = await Promise.all([ledger.insert(record("k1", "bg-1", 3), { background: true }), ledger.insert(record("k1", "bg-2", 4), { background: true })]);
    assert.equal(ledger.counters().threadCommits - before.threadCommits, 1, "both in one transaction of the thread");
    assert.deepEqual(bg.map((r) => r.units), [3, 4]);
    assert.notEqual(bg[0]!.id, fg.id);
    // Committed before the promise resolved: the main connection reads it at once.
    const row = db.prepare("SELECT units FROM usage WHERE request_id = ?").get("bg-2") as { units: number } | undefined;
    assert.equal(row?.units, 4);
    // The thread's commit wakes its own fsync, as the main thread's commits do (no backstop soon).
    await fsynced(before);
    // A duplicate request id returns the record stored, whichever connection wrote it.
    const again = await ledger.insert(record("k1", "fg", 99), { background: true });
    assert.equal(again.id, fg.id);
  } finally {
    await ledger.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("interval mode: background records pending when the ledger thread dies are committed on the main connection, once", { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-ledger-"));
  const file = join(dir, "wharf.db");
  const db = openDatabase(file, { synchronous: "NORMAL", autoCheckpoint: false });
  const ledger = new UsageLedger(db, file, { fsyncIntervalMs: 100, checkpointIntervalMs: 60_000 });
  try {
    await ledger.insert(record("k1", "warm-up"), { background: true }); // the thread is up and inserting
    const thread = (ledger as unknown as { thread: { terminate(): Promise<number> } }).thread;
    const pending = [ledger.insert(record("k1", "orphan-1", 5), { background: true }), ledger.insert(record("k1", "orphan-2", 6), { background: true })];
    void thread.terminate(); // dies before (or while) it gets them
    const rows = await Promise.all(pending);
    assert.deepEqual(rows.map((r) => r.units), [5, 6]);
    const stored = db.prepare("SELECT request_id, units FROM usage WHERE request_id LIKE 'orphan-%' ORDER BY request_id").all();
    assert.deepEqual(stored, [{ request_id: "orphan-1", units: 5 }, { request_id: "orphan-2", units: 6 }], "each stored once");
    // The ledger goes on with a new thread.
    await new Promise((r) => setTimeout(r, 1200));
    const after = await ledger.insert(record("k1", "after", 7), { background: true });
    assert.equal(after.units, 7);
  } finally {
    await ledger.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the ledger thread does not keep a process alive that recorded usage and did not close", { timeout: 30_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-ledger-exit-"));
  try {
    const accounts = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), "accounts.ts")).href;
    for (const fsyncMs of [100, 0]) {
      const script = join(dir, `writer-${fsyncMs}.mts`);
      writeFileSync(script, `
        import { createAccounts } from ${JSON.stringify(accounts)};
        const a = createAccounts({ dataDir: ${JSON.stringify(join(dir, String(fsyncMs)))}, watchIntervalMs: 0, usageFsyncIntervalMs: ${fsyncMs} });
        const { key } = await a.createKey({ name: "k", scopes: ["ai"] });
        await a.recordBatchUsage({ keyId: key.id, pipeline: "llm", units: 1, orchestratorCostWei: "1", requestId: "r" });
        console.log("recorded");
      `);
      const r = spawnSync(process.execPath, ["--import", "tsx", script], { cwd: join(dirname(fileURLToPath(import.meta.url)), "../.."), timeout: 12_000, encoding: "utf8" });
      assert.equal(r.signal, null, `usageFsyncIntervalMs ${fsyncMs}: still running after 12 s (killed)`);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /recorded/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
