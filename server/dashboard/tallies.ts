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
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: quantileOfSorted(sorted, 0.5), p95: quantileOfSorted(sorted, 0.95), samples: sorted.length };
}

/** Counters and latency samples of one second, by name. */
export class SecondTally {
  private counts = new Map<string, number>();
  private latencies = new Map<string, number[]>();

  count(name: string, n = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }

  latency(group: string, ms: number): void {
    let l = this.latencies.get(group);
    if (!l) this.latencies.set(group, (l = []));
    if (l.length < MAX_LATENCIES_PER_SECOND) l.push(ms);
  }

  /** This second's figures; the tally starts over. */
  drain(): { counts: Map<string, number>; latencies: Map<string, Percentiles> } {
    const counts = this.counts;
    const latencies = new Map<string, Percentiles>();
    for (const [g, l] of this.latencies) {
      const p = percentiles(l);
      if (p) latencies.set(g, p);
    }
    this.counts = new Map();
    this.latencies = new Map();
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
    return percentiles(Array.from(this.values.subarray(0, this.filled)));
  }
}
