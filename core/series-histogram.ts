// A Prometheus histogram whose label sets are resolved once: `series(labels)` gives a handle, and
// its observe() is a bucket search and three additions. It is served by a prom-client registry
// (the metric contract a registry reads: name, help, type, aggregator, get, reset) with the
// exposition prom-client's Histogram gives for the same observations, byte for byte
// (core/series-histogram.test.ts compares the two).
//
// Why not prom-client's Histogram for the HTTP timings: its observe() builds a closure, a
// label/value object and a hash string of the labels, then turns the bucket bound into a property
// key twice, on every request. On the single-shot apps lane (server/api/fast-lane.ts), thousands
// of requests a second, that was ~5% of the gateway's CPU per request in a paired run against the
// same build without it (bench/apps-overhead.ts; docs/benchmarks.md).
import type client from "prom-client";

type LabelValues<T extends string> = Partial<Record<T, string | number>>;

/** One line of the exposition, as a prom-client registry reads it from `get()`. */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

/** What `get()` gives a registry (prom-client's typings name a numeric enum for `type`; at run time it is this string). */
export interface HistogramSnapshot {
  name: string;
  help: string;
  type: "histogram";
  values: Sample[];
  aggregator: "sum";
}

/** The counts of one label set. */
export class HistogramSeries {
  /** Observations per bucket (not cumulative): index i counts values ≤ bounds[i] and > bounds[i-1]; the last counts the rest (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string | number>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export interface SeriesHistogramConfig<T extends string> {
  name: string;
  help: string;
  labelNames: readonly T[];
  /** Upper bounds, ascending (+Inf is implied). */
  buckets: readonly number[];
  registers?: client.Registry[];
}

export class SeriesHistogram<T extends string = string> {
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly T[];
  private readonly bounds: readonly number[];
  /** By label values joined with NUL (no label value is expected to hold one; a collision would only merge two series). */
  private readonly byKey = new Map<string, HistogramSeries>();

  constructor(config: SeriesHistogramConfig<T>) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    this.bounds = [...config.buckets];
    for (let i = 1; i < this.bounds.length; i++) {
      if (!(this.bounds[i]! > this.bounds[i - 1]!)) throw new Error(`${config.name}: buckets must ascend`);
    }
    if (this.labelNames.includes("le" as T)) throw new Error("le is a reserved label keyword");
    // A prom-client registry reads the metric contract above; its types name its own Metric class.
    for (const r of config.registers ?? []) r.registerMetric(this as unknown as client.Metric);
  }

  /** The series of `labels` (created at its first call; keep the handle on a hot path). */
  series(labels: LabelValues<T>): HistogramSeries {
    let key = "";
    for (const n of this.labelNames) key += `${labels[n] ?? ""}\u0000`;
    let s = this.byKey.get(key);
    if (!s) {
      for (const k of Object.keys(labels)) {
        if (!this.labelNames.includes(k as T)) throw new Error(`Added label "${k}" is not included in initial labelset: ${JSON.stringify(this.labelNames)}`);
      }
      // Labels in the order the caller gave them, as prom-client keeps them.
      const own: Record<string, string | number> = {};
      for (const [k, v] of Object.entries(labels) as Array<[string, string | number | undefined]>) if (v !== undefined) own[k] = v;
      s = new HistogramSeries(own, this.bounds);
      this.byKey.set(key, s);
    }
    return s;
  }

  observe(labels: LabelValues<T>, value: number): void {
    this.series(labels).observe(value);
  }

  /** Series without observations are left out, as prom-client leaves out label sets never observed. */
  reset(): void {
    for (const s of this.byKey.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }

  async get(): Promise<HistogramSnapshot> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.byKey.values()) {
      if (s.count === 0) continue;
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ labels: { le, ...s.labels }, value: acc, metricName: bucket, exemplar: null });
      });
      values.push({ labels: { le: "+Inf", ...s.labels }, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
