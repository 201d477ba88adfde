// What happened within the current second (answers by status class, latencies by group), and
// the most recent latencies per orchestrator: the sampler drains the first once a second.
import { quantileOfSorted } from "../../core/percentile.ts";

/** Latencies kept per group and second; beyond this a second's percentiles use the first ones. */
const MAX_LATENCIES_PER_SECOND = 10_000;

export interface Percentiles {
  p50: number;
  p95: number;
  samples: number;
}

export function percentiles(values: readonly number[]): Percentiles | undefined {
  if (values.length === 0) return undefined;
  return sortedPercentiles([...values].sort((a, b) => a - b));
}

function sortedPercentiles(sorted: ArrayLike<number>): Percentiles {
  return { p50: quantileOfSorted(sorted, 0.5), p95: quantileOfSorted(sorted, 0.95), samples: sorted.length };
}

/** Latency samples of one group: a buffer that grows to the second's busiest and is reused. */
class Samples {
  values = new Float64Array(64);
  length = 0;

  push(ms: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(Math.min(this.values.length * 2, MAX_LATENCIES_PER_SECOND));
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = ms;
  }
}

/**
 * Counters and latency samples of one second, by name. The samples go to typed buffers kept from
 * one second to the next: at thousands of calls a second, a fresh array per second was copied by
 * every young-generation collection of the process until it was promoted (bench/apps-overhead.ts).
 */
export class SecondTally {
  private counts = new Map<string, number>();
  private readonly latencies = new Map<string, Samples>();

  count(name: string, n = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }

  latency(group: string, ms: number): void {
    let l = this.latencies.get(group);
    if (!l) this.latencies.set(group, (l = new Samples()));
    if (l.length < MAX_LATENCIES_PER_SECOND) l.push(ms);
  }

  /** This second's figures; the tally starts over (a group without samples this second is dropped). */
  drain(): { counts: Map<string, number>; latencies: Map<string, Percentiles> } {
    const counts = this.counts;
    const latencies = new Map<string, Percentiles>();
    for (const [g, l] of this.latencies) {
      if (l.length === 0) {
        this.latencies.delete(g);
        continue;
      }
      latencies.set(g, sortedPercentiles(l.values.slice(0, l.length).sort()));
      l.length = 0;
    }
    this.counts = new Map();
    return { counts, latencies };
  }
}

/** The last `size` latencies of something (an orchestrator): its p50/p95 "lately". */
export class RecentLatencies {
  private readonly values: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(size = 256) {
    this.values = new Float64Array(size);
  }

  add(ms: number): void {
    this.values[this.next] = ms;
    this.next = (this.next + 1) % this.values.length;
    this.filled = Math.min(this.filled + 1, this.values.length);
  }

  percentiles(): Percentiles | undefined {
    return this.filled === 0 ? undefined : sortedPercentiles(this.values.slice(0, this.filled).sort());
  }
}
