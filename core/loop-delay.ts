// The process's event-loop delay, sampled once for everyone who reads it. The sampler is a
// native timer (perf_hooks.monitorEventLoopDelay) that wakes the loop every `resolutionMs`
// even when the process is idle, so there is one per process, not one per reader: the
// Prometheus lag gauges (core/metrics.ts) and the gateway's own overload judgement
// (server/orchestrators/local-load.ts) share it.
//
// What is recorded is the time between two runs of that timer: `resolutionMs` when the loop
// is free, more when something held it. Readers want different spans (the gauges: since the
// last scrape; the overload check: the last couple of seconds), and a histogram cannot be
// split after the fact, so the samples are cut into windows of at least `windowMs` (cut when
// someone reads), and each window's summary is folded into the scrape's running summary.
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

/** Milliseconds. */
export interface DelaySummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
}

const EMPTY: DelaySummary = { count: 0, min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 };

function summarize(h: IntervalHistogram): DelaySummary {
  if (h.count === 0) return EMPTY;
  const ms = (ns: number) => ns / 1e6;
  return {
    count: h.count, min: ms(h.min), max: ms(h.max), mean: ms(h.mean), stddev: ms(h.stddev),
    p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)),
  };
}

/**
 * Two summaries as one: count, min, max, mean and stddev exactly; the percentiles as the larger
 * of the two (an upper bound: a percentile of the union is never above both).
 */
export function mergeSummaries(a: DelaySummary, b: DelaySummary): DelaySummary {
  if (a.count === 0) return b;
  if (b.count === 0) return a;
  const count = a.count + b.count;
  const mean = (a.mean * a.count + b.mean * b.count) / count;
  const sq = (s: DelaySummary) => s.count * (s.stddev ** 2 + s.mean ** 2);
  const variance = Math.max(0, (sq(a) + sq(b)) / count - mean ** 2);
  return {
    count, min: Math.min(a.min, b.min), max: Math.max(a.max, b.max), mean, stddev: Math.sqrt(variance),
    p50: Math.max(a.p50, b.p50), p90: Math.max(a.p90, b.p90), p99: Math.max(a.p99, b.p99),
  };
}

export interface LoopDelayOptions {
  resolutionMs: number;
  windowMs: number;
  now?: () => number;
}

export class LoopDelay {
  private readonly histogram: IntervalHistogram;
  private readonly now: () => number;
  private windowStart: number;
  private lastWindow: DelaySummary = EMPTY;
  private sinceReport: DelaySummary = EMPTY;

  constructor(private readonly opts: LoopDelayOptions) {
    this.now = opts.now ?? Date.now;
    this.windowStart = this.now();
    this.histogram = monitorEventLoopDelay({ resolution: opts.resolutionMs });
    this.histogram.enable(); // its timer is unref'd: it keeps no process alive
  }

  get resolutionMs(): number {
    return this.opts.resolutionMs;
  }

  /** Ends the current window when it is old enough (or `force`): its samples move to the summaries. */
  private cut(force: boolean): void {
    if (!force && this.now() - this.windowStart < this.opts.windowMs) return;
    this.lastWindow = summarize(this.histogram);
    this.sinceReport = mergeSummaries(this.sinceReport, this.lastWindow);
    this.histogram.reset();
    this.windowStart = this.now();
  }

  /** The p99 delay (ms) of the last completed window or of the current one, whichever is higher. */
  recentP99Ms(): number {
    this.cut(false);
    const current = this.histogram.count > 0 ? this.histogram.percentile(99) / 1e6 : 0;
    return Math.max(this.lastWindow.p99, current);
  }

  /** Everything recorded since the previous report (for a scrape), then starts the next one. */
  takeReport(): DelaySummary {
    this.cut(true);
    const r = this.sinceReport;
    this.sinceReport = EMPTY;
    return r;
  }

  stop(): void {
    this.histogram.disable();
  }
}
