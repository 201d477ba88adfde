// The usage ledger's write path. Every billable event waits for its record before the
// client gets an answer; how much of the disk that wait includes is an operator choice
// (`usageFsyncIntervalMs`):
//
// - > 0 (default 100 ms): the record is committed on the main thread with
//   synchronous=NORMAL — appended to the WAL, in the OS page cache, so it survives any
//   crash or SIGKILL of Wharf — and the ledger thread fsyncs the WAL within the
//   interval, so an OS crash or power loss can lose at most that window. Commits are
//   grouped per event-loop turn and cost ~20 µs; checkpoints also run on the thread.
//   The thread sleeps until a commit wakes it (a flag in shared memory, set by the first
//   commit since its last sync: ledger-signal.ts), plus a backstop every
//   `checkpointIntervalMs` for the main connection's other writers (keys, streams, audit),
//   whose commits are fsynced within that backstop instead.
// - 0: every acknowledged record is fsynced first. The ledger thread does the inserts on
//   its own connection (synchronous=FULL), grouping everything that arrived during the
//   previous commit; the event loop never blocks on fsync, but each request waits for
//   one (~0.3 ms idle, 2–9 ms on a busy 2-core machine).
//
// Records nobody waits for on the event loop (`background`: tallied single-shot runs, a record
// per window of runs) are committed by the thread in both modes. In interval mode that commit
// is synchronous=NORMAL and fsynced within the interval like the main connection's. Why: on a
// busy machine a commit on the event loop took 0.3–0.9 ms (up to 5 ms: SQLite's writes and
// locks are a dozen system calls), and the requests in flight waited for it.
//
// The trade: in interval mode the thread's connection is a second writer, so a commit of the main
// connection that meets one of the thread's (a few a second under app-run load, each holding
// SQLite's write lock ~0.3 ms) waits for it in SQLite's busy handler, on the event loop.
//
// The thread is referenced only while inserts are pending, so it never keeps a CLI
// process alive; if it dies it is restarted: the every-commit inserts it had pending fail, and
// interval mode's background records go to the main connection instead (idempotent by request id).
import type { Worker } from "node:worker_threads";
import { startModuleThread } from "../threads.ts";
import { moduleLogger } from "../../core/log.ts";
import type { DB } from "./sqlite-schema.ts";
import { markCommitted, newLedgerSignal, readCounters, type LedgerCounters } from "./ledger-signal.ts";
import { prepareUsageInsert } from "./usage-insert.ts";
import type { NewUsageRecord, UsageInsertOptions, UsageRecord } from "./types.ts";

const log = moduleLogger("usage-ledger");

export interface LedgerThreadConfig {
  file: string;
  /** 0 = the thread commits every insert with an fsync (every-commit mode). */
  fsyncIntervalMs: number;
  /** Interval mode's backstop: fsync what other writers committed, checkpoint. */
  checkpointIntervalMs: number;
  /** Shared with the thread (ledger-signal.ts). */
  signal: Int32Array;
}
export interface LedgerRequest {
  batch: Array<{ seq: number; u: NewUsageRecord }>;
}
export interface LedgerReply {
  results: Array<{ seq: number; row?: UsageRecord; error?: string }>;
}
export type LedgerMessage = LedgerReply | { warn: string } | "closed";

export interface UsageLedgerOptions {
  /** See the header; default 100. */
  fsyncIntervalMs?: number;
  /**
   * Interval mode: at most how often the thread checkpoints the WAL into the database, and
   * the backstop that fsyncs the commits of the main connection's other writers; default 1000.
   */
  checkpointIntervalMs?: number;
}

interface Pending {
  resolve: (r: UsageRecord) => void;
  reject: (e: Error) => void;
  /** A background record of interval mode: committed on the main connection if the thread dies. */
  u?: NewUsageRecord;
}

export class UsageLedger {
  private thread?: Worker;
  private readonly cfg: LedgerThreadConfig;
  private readonly inThread: boolean;
  private seq = 0;
  private readonly waiting = new Map<number, Pending>();
  private outbox: LedgerRequest["batch"] = [];
  private local: Array<{ u: NewUsageRecord } & Pending> = [];
  private commitSoon?: NodeJS.Immediate;
  private readonly insertBatch: (batch: NewUsageRecord[]) => Array<UsageRecord | Error>;
  private closing?: Promise<void>;

  /** `db` is the main connection; in interval mode it must be synchronous=NORMAL with wal_autocheckpoint=0. */
  constructor(
    private readonly db: DB,
    file: string,
    opts: UsageLedgerOptions = {},
  ) {
    const fsyncIntervalMs = opts.fsyncIntervalMs ?? 100;
    this.cfg = { file, fsyncIntervalMs, checkpointIntervalMs: opts.checkpointIntervalMs ?? 1000, signal: newLedgerSignal() };
    this.inThread = fsyncIntervalMs === 0;
    this.insertBatch = prepareUsageInsert(db);
    // From the start: in interval mode it makes the main connection's commits durable; in
    // every-commit mode the first record should not wait for the thread to boot.
    this.ensureThread();
  }

  /** Resolves once the record is committed (and, in every-commit mode, fsynced). */
  insert(u: NewUsageRecord, opts?: UsageInsertOptions): Promise<UsageRecord> {
    if (this.closing) return Promise.reject(new Error("usage ledger is closed"));
    return new Promise<UsageRecord>((resolve, reject) => {
      if (!this.inThread && !opts?.background) {
        this.local.push({ u, resolve, reject });
        this.commitSoon ??= setImmediate(() => this.commitLocal());
        return;
      }
      const seq = ++this.seq;
      this.waiting.set(seq, this.inThread ? { resolve, reject } : { resolve, reject, u });
      this.outbox.push({ seq, u });
      if (this.outbox.length === 1) setImmediate(() => this.post());
      this.ensureThread().ref();
    });
  }

  /** Group commit on the main thread: records from one event-loop turn share a transaction. */
  private commitLocal(): void {
    if (this.commitSoon) clearImmediate(this.commitSoon);
    this.commitSoon = undefined;
    const batch = this.local;
    this.local = [];
    if (batch.length === 0) return;
    let rows: Array<UsageRecord | Error>;
    try {
      rows = this.insertBatch(batch.map((b) => b.u));
    } catch (err) {
      for (const b of batch) b.reject(err as Error); // the connection itself failed (closed, say)
      return;
    }
    markCommitted(this.cfg.signal); // the thread fsyncs it within fsyncIntervalMs
    batch.forEach((b, i) => {
      const r = rows[i]!;
      if (r instanceof Error) b.reject(r);
      else b.resolve(r);
    });
  }

  /** What the thread did so far (tests, profiling). */
  counters(): LedgerCounters {
    return readCounters(this.cfg.signal);
  }

  private post(): void {
    const batch = this.outbox;
    this.outbox = [];
    if (batch.length) this.ensureThread().postMessage({ batch } satisfies LedgerRequest);
  }

  private ensureThread(): Worker {
    if (this.thread) return this.thread;
    const w = startModuleThread(import.meta.url, "./ledger-thread", this.cfg);
    this.thread = w;
    w.on("message", (m: LedgerMessage) => {
      if (m === "closed") return;
      if ("warn" in m) return log.warn(m.warn);
      for (const r of m.results) {
        const p = this.waiting.get(r.seq);
        if (!p) continue;
        this.waiting.delete(r.seq);
        if (r.row) p.resolve(r.row);
        else p.reject(new Error(r.error ?? "usage insert failed"));
      }
      if (this.waiting.size === 0) w.unref();
    });
    const fail = (err: Error) => {
      if (this.thread !== w) return;
      this.thread = undefined;
      const pending = [...this.waiting.values()];
      this.waiting.clear();
      // Background records are not lost with the thread: the main connection commits them now.
      // One the thread committed before it died is found by its request id (inserts are idempotent).
      for (const p of pending) if (p.u) this.local.push({ u: p.u, resolve: p.resolve, reject: p.reject });
      for (const p of pending) if (!p.u) p.reject(err);
      this.commitLocal();
      if (this.closing) return;
      log.error({ err: err.message }, "usage ledger thread stopped; restarting it");
      // Interval mode needs the thread for its fsyncs; every-commit mode starts it with the next insert.
      if (!this.inThread) setTimeout(() => !this.closing && this.ensureThread(), 1000).unref();
    };
    w.on("error", (err) => fail(err));
    w.on("exit", (code) => fail(new Error(`usage ledger thread exited (${code})`)));
    // After the listeners: adding a "message" listener refs the thread's port again, which kept
    // a CLI process alive after its work was done.
    w.unref();
    return w;
  }

  /** Commits what is queued, waits for pending inserts and a last WAL sync, then stops the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.commitLocal();
      this.post();
      const w = this.thread;
      if (!w) return;
      w.ref();
      await new Promise<void>((resolve) => {
        w.on("message", (m) => m === "closed" && resolve());
        w.once("exit", () => resolve());
        w.postMessage("close");
      });
      await w.terminate();
    })();
    return this.closing;
  }
}
