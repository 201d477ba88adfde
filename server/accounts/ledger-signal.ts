// The memory the main thread and the usage ledger's thread share in interval mode (see
// usage-ledger.ts): a "committed since the last WAL sync" flag the thread waits on, so it
// wakes only when there is something to make durable, and counters for tests and profiling.

/** Int32 slots of the shared buffer. */
export const SIGNAL = {
  /** 1 = the main connection committed usage records the WAL sync has not covered yet. */
  dirty: 0,
  /** Times the thread woke up because of a commit. */
  commitWakeups: 1,
  /** WAL checks (an fstat; an fsync when the WAL changed), whatever triggered them. */
  walChecks: 2,
  /** fsyncs of the WAL. */
  fsyncs: 3,
  /** Checkpoints run. */
  checkpoints: 4,
  /** Transactions of usage records the thread committed (every-commit mode, `background` records). */
  threadCommits: 5,
} as const;
const SLOTS = 6;

export interface LedgerCounters {
  commitWakeups: number;
  walChecks: number;
  fsyncs: number;
  checkpoints: number;
  threadCommits: number;
}

export function newLedgerSignal(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT));
}

/**
 * Called after each group commit of usage records (by the main thread, and by the ledger thread
 * for the records it commits): only the first commit since the thread's last sync sets the flag
 * and wakes it (one compare-and-swap per commit otherwise).
 */
export function markCommitted(signal: Int32Array): void {
  if (Atomics.compareExchange(signal, SIGNAL.dirty, 0, 1) === 0) Atomics.notify(signal, SIGNAL.dirty);
}

export function readCounters(signal: Int32Array): LedgerCounters {
  return {
    commitWakeups: Atomics.load(signal, SIGNAL.commitWakeups),
    walChecks: Atomics.load(signal, SIGNAL.walChecks),
    fsyncs: Atomics.load(signal, SIGNAL.fsyncs),
    checkpoints: Atomics.load(signal, SIGNAL.checkpoints),
    threadCommits: Atomics.load(signal, SIGNAL.threadCommits),
  };
}
