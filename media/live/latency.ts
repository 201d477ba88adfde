// A bounded sample of latencies (ms) with percentiles, for the live status and benchmarks.
import { quantile } from "../../core/percentile.ts";

export class LatencySample {
  private readonly values: number[] = [];
  count = 0;

  constructor(private readonly size = 2000) {}

  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.count++;
    this.values.push(ms);
    if (this.values.length > this.size) this.values.shift();
  }

  percentile(p: number): number | null {
    if (this.values.length === 0) return null;
    return Math.round(quantile(this.values, p / 100) * 100) / 100;
  }

  view(): { p50: number | null; p95: number | null; max: number | null; samples: number } {
    return {
      p50: this.percentile(50),
      p95: this.percentile(95),
      max: this.values.length ? Math.round(Math.max(...this.values) * 100) / 100 : null,
      samples: this.count,
    };
  }
}
