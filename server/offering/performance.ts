// Measured performance per pipeline over the last 24 h: success rate and latency p50/p95 of the
// batch AI answers this process gave, in hourly buckets (a bounded latency sample per bucket).
// 2xx counts as a success, 5xx as a failure; 4xx are the caller's mistakes and count as neither.
import { percentiles } from "../dashboard/tallies.ts";

export const PERFORMANCE_WINDOW_MS = 24 * 60 * 60 * 1000;
const BUCKET_MS = 60 * 60 * 1000;
/** Latencies kept per pipeline and hour (reservoir sample beyond that). */
const LATENCY_SAMPLES_PER_BUCKET = 500;

interface Bucket { start: number; ok: number; failed: number; seen: number; latencies: number[] }

export interface PipelinePerformance {
  requests: number;
  successRate: number | null;
  latencyMs: { p50: number; p95: number } | null;
}

export class PerformanceWindow {
  private readonly buckets = new Map<string, Bucket[]>();

  constructor(private readonly now: () => number = Date.now, private readonly random: () => number = Math.random) {}

  observe(pipeline: string, status: number, durationMs: number): void {
    if (status >= 400 && status < 500) return;
    const t = this.now();
    const start = t - (t % BUCKET_MS);
    let list = this.buckets.get(pipeline);
    if (!list) this.buckets.set(pipeline, (list = []));
    let b = list[list.length - 1];
    if (!b || b.start !== start) {
      list.push((b = { start, ok: 0, failed: 0, seen: 0, latencies: [] }));
      while (list.length && list[0]!.start <= t - PERFORMANCE_WINDOW_MS - BUCKET_MS) list.shift();
    }
    if (status >= 500) {
      b.failed++;
      return;
    }
    b.ok++;
    b.seen++;
    if (b.latencies.length < LATENCY_SAMPLES_PER_BUCKET) b.latencies.push(durationMs);
    else {
      const i = Math.floor(this.random() * b.seen);
      if (i < LATENCY_SAMPLES_PER_BUCKET) b.latencies[i] = durationMs;
    }
  }

  /** Per pipeline, over the buckets that overlap the last 24 h. */
  summary(): Record<string, PipelinePerformance> {
    const from = this.now() - PERFORMANCE_WINDOW_MS;
    const out: Record<string, PipelinePerformance> = {};
    for (const [pipeline, list] of this.buckets) {
      let ok = 0;
      let failed = 0;
      const latencies: number[] = [];
      for (const b of list) {
        if (b.start + BUCKET_MS <= from) continue;
        ok += b.ok;
        failed += b.failed;
        latencies.push(...b.latencies);
      }
      if (ok + failed === 0) continue;
      const p = percentiles(latencies);
      out[pipeline] = {
        requests: ok + failed,
        successRate: Math.round((ok / (ok + failed)) * 10000) / 10000,
        latencyMs: p ? { p50: Math.round(p.p50), p95: Math.round(p.p95) } : null,
      };
    }
    return out;
  }
}
