// The usage ledger's background thread (see usage-ledger.ts). It owns everything that
// waits on the disk, so the gateway's event loop never does:
// - "interval" mode: the main thread commits with synchronous=NORMAL (written to the
//   WAL, safe from any crash of Wharf itself); this thread fsyncs the WAL within
//   `fsyncIntervalMs` of a commit, and checkpoints it into the database file. It wakes only
//   for a commit and for a slow backstop (below): an idle gateway's ledger thread sleeps.
// - "every-commit" mode (fsyncIntervalMs = 0): this thread does the inserts itself on
//   its own connection (synchronous=FULL), one fsynced transaction for everything that
//   arrived while the previous one was committing, and acknowledges each record after
//   that fsync.
// - Either mode: the inserts the main thread hands over because nobody waits for them on its
//   event loop (`background` records). In interval mode this connection is synchronous=NORMAL
//   and its commits are fsynced like the main connection's (below).
import { closeSync, fstatSync, fsyncSync, openSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { openDatabase } from "./sqlite-schema.ts";
import { prepareUsageInsert } from "./usage-insert.ts";
import { markCommitted, SIGNAL } from "./ledger-signal.ts";
import type { LedgerMessage, LedgerRequest, LedgerThreadConfig } from "./usage-ledger.ts";

const port = parentPort!;
const cfg = workerData as LedgerThreadConfig;
// Interval mode: checkpoints are this thread's own timed ones (below), not one after a commit.
const db = openDatabase(cfg.file, cfg.fsyncIntervalMs === 0 ? { synchronous: "FULL" } : { synchronous: "NORMAL", autoCheckpoint: false });
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
  Atomics.add(cfg.signal, SIGNAL.threadCommits, 1);
  if (cfg.fsyncIntervalMs > 0) markCommitted(cfg.signal); // fsynced within the interval (syncOnCommits)
  send({
    results: batch.map((b, i) => {
      const r = rows[i]!;
      return r instanceof Error ? { seq: b.seq, error: r.message } : { seq: b.seq, row: r };
    }),
  });
}

// ---------------------------------------------------------------- interval sync + checkpoints
// The thread sleeps until there is work:
// - a commit: the main thread sets the shared `dirty` flag after a group commit of usage
//   records (only the first since the last sync wakes us, see ledger-signal.ts); the WAL is
//   fsynced `fsyncIntervalMs` after that first commit, so whatever committed in between shares
//   the fsync. The flag is cleared before the fsync: a commit during it sets it again.
// - the backstop, every `checkpointIntervalMs`: the main connection has other writers (keys,
//   streams, audit, webhooks...) that do not signal; their commits are fsynced and everything
//   is checkpointed into the database file at this pace. When nothing changed it is one fstat.
const signal = cfg.signal;
let walFd: number | undefined;
let syncedMark = "";
let checkpointedMark = "";
let lastCheckpoint = Date.now();
let closing = false;
let delayTimer: NodeJS.Timeout | undefined;

/**
 * fsync the WAL (`always`, after a commit, or when it changed since the last sync): every commit
 * written so far becomes durable. The change check is for the backstop; a commit always gets
 * its fsync (a WAL rewritten in place within one timestamp tick could look unchanged).
 */
function syncWal(always: boolean): void {
  Atomics.add(signal, SIGNAL.walChecks, 1);
  try {
    walFd ??= openSync(`${cfg.file}-wal`, "r");
    const st = fstatSync(walFd, { bigint: true });
    const mark = `${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    if (always || mark !== syncedMark) {
      fsyncSync(walFd);
      Atomics.add(signal, SIGNAL.fsyncs, 1);
      syncedMark = mark;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") send({ warn: `WAL sync failed: ${(err as Error).message}` });
    if (walFd !== undefined) closeSync(walFd);
    walFd = undefined;
  }
}

/**
 * The main connection does not auto-checkpoint (that would stall the event loop): it is done
 * here, by the backstop and after a sync when the last one is `checkpointIntervalMs` old, and
 * only when the WAL changed since the last complete one.
 */
function checkpoint(backstop: boolean): void {
  if (syncedMark === checkpointedMark || (!backstop && Date.now() - lastCheckpoint < cfg.checkpointIntervalMs)) return;
  lastCheckpoint = Date.now();
  try {
    const [r] = db.pragma("wal_checkpoint(PASSIVE)") as Array<{ busy: number; log: number; checkpointed: number }>;
    Atomics.add(signal, SIGNAL.checkpoints, 1);
    // Incomplete (a reader holds old frames): tried again at the next occasion.
    if (r && r.busy === 0 && r.checkpointed === r.log) checkpointedMark = syncedMark;
  } catch (err) {
    send({ warn: `WAL checkpoint failed: ${(err as Error).message}` });
  }
}

// In Node since 16; typed only from TypeScript's lib es2024 on.
const atomics = Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
};

async function syncOnCommits(): Promise<void> {
  while (!closing) {
    const wait = atomics.waitAsync(signal, SIGNAL.dirty, 0);
    if (wait.async) await wait.value;
    if (closing) return;
    Atomics.add(signal, SIGNAL.commitWakeups, 1);
    await new Promise<void>((resolve) => (delayTimer = setTimeout(resolve, cfg.fsyncIntervalMs)));
    if (closing) return;
    Atomics.store(signal, SIGNAL.dirty, 0);
    syncWal(true);
    checkpoint(false);
  }
}

let backstop: NodeJS.Timeout | undefined;
if (cfg.fsyncIntervalMs > 0) {
  syncOnCommits().catch((err: Error) => send({ warn: `usage ledger sync loop failed: ${err.message}` }));
  backstop = setInterval(() => {
    syncWal(false);
    checkpoint(true);
  }, cfg.checkpointIntervalMs);
}

port.on("message", (m: LedgerRequest | "close") => {
  if (m === "close") {
    closing = true;
    clearInterval(backstop);
    clearTimeout(delayTimer);
    Atomics.notify(signal, SIGNAL.dirty); // ends the wait
    flushInserts();
    if (cfg.fsyncIntervalMs > 0) syncWal(Atomics.exchange(signal, SIGNAL.dirty, 0) === 1);
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
