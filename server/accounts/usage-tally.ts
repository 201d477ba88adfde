// Usage of single-shot app runs and BYOC jobs, tallied before it is recorded. Each run is billed
// (charged with the price book as a run of its own, so a total is exactly the sum of its runs'
// charges), but the runs of one key, app and orchestrator that come within a window share one
// usage record: `units` is the number of runs, the costs and charges are their sums.
//
// Why: at thousands of runs a second, a record per run was a third of the gateway's CPU per run
// (the row and its three index entries, the record's objects and its listeners), and the runs
// queue behind that CPU on a busy machine (bench/apps-overhead.ts). A record per window costs the
// same whatever the rate. A run at a time of its own still gets a record of its own.
//
// Runs of a key with spend caps hold a reservation of their charge (Accounts.checkSpend with
// `reserve`) until their record is committed, so a cap counts tallied runs as spent. Between the
// ledger thread's commit and its acknowledgement both count (a message's round trip): a spend
// check then errs on the side of the cap. A crash
// loses the open window (at most `windowMs` of answered runs); a close records it first.
import { moduleLogger } from "../../core/log.ts";
import { v7 as uuidv7 } from "uuid";
import type { PriceBook } from "./pricing.ts";
import type { BatchUsageInput } from "./usage-recording.ts";
import type { UsageRecord } from "./types.ts";

const log = moduleLogger("usage-tally");

/**
 * How long runs are tallied before their records are written. A window's records share one
 * commit, and under load that commit is what costs: on the event loop it was ~0.3 ms of inserts
 * plus ~0.07 ms to wake the ledger thread for its fsync (a busy 2-core machine at 3,000 runs a
 * second, bench/apps-overhead.ts), during which the runs in flight waited: at 10 ms, 5–10 µs per
 * run; at 50 ms, 20 stalls a second. The records are now `background` ones (the ledger's thread
 * commits them with SQLite: usage-ledger.ts), and at 200 ms that is 5 commits a second.
 * A crash of the process loses at most this window of answered runs' records (a close writes it).
 */
export const DEFAULT_TALLY_WINDOW_MS = 200;

export interface TalliedRun {
  keyId: string;
  pipeline: string;
  model: string;
  orchestrator: string;
  orchestratorCostWei: bigint;
  /** Expected value of the tickets sent for the run. */
  paidWei: bigint;
}

interface Entry {
  run: TalliedRun;
  ts: number;
  units: number;
  costWei: bigint;
  paidWei: bigint;
  chargeMicros: number;
  /** The charge of a run at the last cost seen (a runner's price rarely changes between runs). */
  lastCostWei: bigint;
  lastCharge: number;
  releases: Array<() => void>;
}

export class UsageTally {
  private entries = new Map<string, Entry>();
  /** The entry of the last run added (in `entries`). */
  private last?: Entry;
  private timer?: NodeJS.Timeout;
  private readonly writing = new Set<Promise<void>>();
  constructor(
    private readonly record: (u: BatchUsageInput) => Promise<UsageRecord>,
    private readonly priceBook: PriceBook,
    private readonly now: () => number,
    private readonly windowMs = DEFAULT_TALLY_WINDOW_MS,
  ) {}

  /** Bills one answered run; `release` (a spend reservation) is called once its record is committed or failed. */
  add(run: TalliedRun, release?: () => void): void {
    let e = this.last;
    // Runs in a row are mostly of the same key, app and orchestrator: no lookup string for them.
    let id: string | undefined;
    if (!e || e.run.keyId !== run.keyId || e.run.model !== run.model || e.run.orchestrator !== run.orchestrator || e.run.pipeline !== run.pipeline) {
      id = `${run.keyId}\n${run.pipeline}\n${run.model}\n${run.orchestrator}`;
      e = this.entries.get(id);
    }
    let charge: number;
    try {
      // Before anything is changed: a price the book cannot charge (a negative runner price) leaves no trace.
      charge = e && run.orchestratorCostWei === e.lastCostWei ? e.lastCharge : this.priceBook.charge({ pipeline: run.pipeline, units: 1, orchestratorCostWei: run.orchestratorCostWei });
    } catch (err) {
      release?.();
      log.error({ err: (err as Error).message, keyId: run.keyId, model: run.model }, "app run usage not recorded");
      return;
    }
    if (!e) {
      e = { run, ts: this.now(), units: 0, costWei: 0n, paidWei: 0n, chargeMicros: 0, lastCostWei: -1n, lastCharge: 0, releases: [] };
      this.entries.set(id!, e);
    }
    this.last = e;
    e.lastCostWei = run.orchestratorCostWei;
    e.lastCharge = charge;
    e.units++;
    e.costWei += run.orchestratorCostWei;
    e.paidWei += run.paidWei;
    e.chargeMicros += charge;
    if (release) e.releases.push(release);
    this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
  }

  /** Records the open window now; resolves once every record written so far is committed. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const entries = this.entries;
    this.entries = new Map();
    this.last = undefined;
    for (const e of entries.values()) {
      const { run } = e;
      // A v7 id is time-ordered: the ledger's request-id index grows at its end, not at a random page.
      const p = this
        .record({
          keyId: run.keyId, pipeline: run.pipeline, model: run.model, units: e.units, orchestrator: run.orchestrator,
          orchestratorCostWei: e.costWei, paidWei: e.paidWei, chargeMicros: e.chargeMicros, requestId: `run_${uuidv7()}`, ts: e.ts,
        })
        .then(
          () => undefined,
          // Its runs were answered: logged, nothing to retry.
          (err: Error) => log.error({ err: err.message, runs: e.units, keyId: run.keyId }, "app run usage not recorded"),
        )
        .finally(() => {
          this.writing.delete(p);
          for (const release of e.releases) {
            try {
              release();
            } catch (err) {
              log.error({ err: (err as Error).message }, "releasing a spend reservation failed");
            }
          }
        });
      this.writing.add(p);
    }
    await Promise.all(this.writing);
  }
}
