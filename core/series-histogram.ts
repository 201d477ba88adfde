// A Prometheus histogram whose label sets are resolved once: `series(labels)` gives a handle, and
// its observe() is a bucket search and three additions. It is served by a prom-client registry
// (the metric contract a registry reads: name, help, type, aggregator, get, getForPromString,
// reset) with the exposition prom-client's Histogram gives for the same observations, byte for
// byte, default labels and resets included (core/series-histogram.test.ts compares the two).
// Unlike prom-client's: no labels()/startTimer()/zero()/remove(), and no global registry.
//
// Why not prom-client's Histogram for the HTTP timings: its observe() builds a closure, a
// label/value object and a hash string of the labels, then turns the bucket bound into a property
// key twice, on every request. On the single-shot apps lane (server/api/fast-lane.ts), thousands
// of requests a second, it was 9-16 µs of ~140 µs of the gateway's CPU per request, in paired
// runs against the build before (bench/apps-build-ab.ts; docs/benchmarks.md).
import type client from "prom-client";

type LabelValues<T extends string> = Partial<Record<T, string | number>>;

/**
 * One line of the exposition, as a prom-client registry reads it: from `getForPromString()` with
 * the series' labels apart (`sharedLabels`, printed after a registry's default labels, as for
 * prom-client's Histogram), from `get()` with them merged.
 */
interface Sample {
  labels: Record<string, string | number>;
  sharedLabels?: Readonly<Record<string, string | number>>;
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
    /** Called at the first observation since the series was made or reset: the exposition lists series in that order. */
    private readonly onFirst: (s: HistogramSeries) => void,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    if (this.count === 0) this.onFirst(this);
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
  private readonly known: ReadonlySet<string>;
  /**
   * By label values, each ended by NUL; a label left out (or undefined) is \u0001, apart from "", and
   * merges with a label given as undefined, as prom-client's label hash does. Label values hold
   * neither in practice (route patterns, methods, status classes); a collision would merge two series.
   */
  private readonly byKey = new Map<string, HistogramSeries>();
  /** Series observed since they were made or reset, in the order of their first observation. */
  private active: HistogramSeries[] = [];
  private readonly activate = (s: HistogramSeries): void => {
    this.active.push(s);
  };

  constructor(config: SeriesHistogramConfig<T>) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    this.known = new Set(config.labelNames);
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
    this.check(labels);
    let key = "";
    for (const n of this.labelNames) {
      const v = labels[n];
      key += v === undefined ? "\u0001\u0000" : `${v}\u0000`;
    }
    let s = this.byKey.get(key);
    if (!s) {
      // Labels in the order the caller gave them, as prom-client keeps them.
      const own: Record<string, string | number> = {};
      for (const [k, v] of Object.entries(labels) as Array<[string, string | number | undefined]>) if (v !== undefined) own[k] = v;
      s = new HistogramSeries(own, this.bounds, this.activate);
      this.byKey.set(key, s);
    }
    return s;
  }

  /** As prom-client's: refused before anything is made (a label it does not know, a value that is not a number). */
  observe(labels: LabelValues<T>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    this.series(labels).observe(value);
  }

  private check(labels: LabelValues<T>): void {
    for (const k in labels) {
      if (!this.known.has(k)) throw new Error(`Added label "${k}" is not included in initial labelset: ${JSON.stringify(this.labelNames)}`);
    }
  }

  /** As prom-client's: no series until observed again (handles stay valid). */
  reset(): void {
    for (const s of this.active) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
    this.active = [];
  }

  /** The registry's text exposition reads this one (prom-client's Histogram has it too): the series' labels come after default labels. */
  async getForPromString(): Promise<HistogramSnapshot> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.active) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: bucket, exemplar: null });
      });
      values.push({ labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** JSON (registry.getMetricsAsJSON): each value's labels with its series' merged in. */
  async get(): Promise<HistogramSnapshot> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return data;
  }
}
