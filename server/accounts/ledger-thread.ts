// The usage ledger's background thread (see usage-ledger.ts). It owns everything that
// waits on the disk, so the gateway's event loop never does:
// - "interval" mode: the main thread commits with synchronous=NORMAL (written to the
//   WAL, safe from any crash of Wharf itself); this thread fsyncs the WAL every
//   `fsyncIntervalMs` when it changed, and checkpoints it into the database file.
// - "every-commit" mode (fsyncIntervalMs = 0): this thread does the inserts itself on
//   its own connection (synchronous=FULL), one fsynced transaction for everything that
//   arrived while the previous one was committing, and acknowledges each record after
//   that fsync.
import { closeSync, fstatSync, fsyncSync, openSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { openDatabase } from "./sqlite-schema.ts";
import { prepareUsageInsert } from "./usage-insert.ts";
import type { LedgerMessage, LedgerRequest, LedgerThreadConfig } from "./usage-ledger.ts";

const port = parentPort!;
const cfg = workerData as LedgerThreadConfig;
const db = openDatabase(cfg.file, { synchronous: "FULL" });
const send = (m: LedgerMessage) => port.postMessage(m);

// ---------------------------------------------------------------- every-commit inserts
const insert = prepareUsageInsert(db);
let queue: LedgerRequest["batch"] = [];
let scheduled = false;

function flushInserts(): void {
  scheduled = false;
  const batch = queue;
  queue = [];
  if (batch.length === 0) return;
  const rows = insert(batch.map((b) => b.u));
  send({
    results: batch.map((b, i) => {
      const r = rows[i]!;
      return r instanceof Error ? { seq: b.seq, error: r.message } : { seq: b.seq, row: r };
    }),
  });
}

// ---------------------------------------------------------------- interval sync + checkpoints
let walFd: number | undefined;
let syncedMark = "";
let lastCheckpoint = Date.now();

/** fsync the WAL if it changed since the last sync: every commit written so far becomes durable. */
function syncWal(): void {
  try {
    walFd ??= openSync(`${cfg.file}-wal`, "r");
    const st = fstatSync(walFd, { bigint: true });
    const mark = `${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    if (mark !== syncedMark) {
      fsyncSync(walFd);
      syncedMark = mark;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") send({ warn: `WAL sync failed: ${(err as Error).message}` });
    if (walFd !== undefined) closeSync(walFd);
    walFd = undefined;
  }
}

function tick(): void {
  syncWal();
  // The main connection does not auto-checkpoint (that would stall the event loop): do it here.
  if (Date.now() - lastCheckpoint >= cfg.checkpointIntervalMs) {
    lastCheckpoint = Date.now();
    try {
      db.pragma("wal_checkpoint(PASSIVE)");
    } catch (err) {
      send({ warn: `WAL checkpoint failed: ${(err as Error).message}` });
    }
  }
}

const timer = cfg.fsyncIntervalMs > 0 ? setInterval(tick, cfg.fsyncIntervalMs) : undefined;

port.on("message", (m: LedgerRequest | "close") => {
  if (m === "close") {
    if (timer) clearInterval(timer);
    flushInserts();
    if (cfg.fsyncIntervalMs > 0) syncWal();
    if (walFd !== undefined) closeSync(walFd);
    db.close();
    send("closed");
    return;
  }
  for (const b of m.batch) queue.push(b);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushInserts);
  }
});
