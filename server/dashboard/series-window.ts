// A rolling window of one-second points: one contiguous time axis and named series of numbers
// in typed arrays (NaN = no value at that second), bounded in points and in series.

export interface SeriesSnapshot {
  /** Unix second of the first point; point i is at start + i. */
  start: number;
  /** Points per series. */
  length: number;
  /** Values, null where there was none. */
  series: Record<string, Array<number | null>>;
}

interface Series {
  values: Float32Array;
  /** The last second this series had a value. */
  lastSetAt: number;
}

export class SeriesWindow {
  /** Series refused because `maxSeries` were already kept. */
  refused = 0;
  private readonly series = new Map<string, Series>();
  /** Ring index of the oldest point. */
  private head = 0;
  private count = 0;
  private last = -Infinity;

  constructor(
    /** Points kept per series (seconds of history). */
    readonly capacity: number,
    readonly maxSeries: number,
  ) {}

  /** The second of the newest point (undefined before the first). */
  get lastSecond(): number | undefined {
    return this.count ? this.last : undefined;
  }

  get length(): number {
    return this.count;
  }

  get seriesCount(): number {
    return this.series.size;
  }

  keys(): string[] {
    return [...this.series.keys()];
  }

  /**
   * The point at second `t`. Seconds skipped since the last point get NaN in every series (the
   * axis stays contiguous); a second not after the last is ignored (the clock went back).
   */
  append(t: number, values: ReadonlyMap<string, number>): boolean {
    if (!Number.isInteger(t) || t <= this.last) return false;
    const gap = this.count === 0 ? 0 : Math.min(t - this.last - 1, this.capacity);
    for (let i = 0; i < gap; i++) this.advance();
    const at = this.advance();
    this.last = t;
    for (const [key, v] of values) {
      let s = this.series.get(key);
      if (!s) {
        if (this.series.size >= this.maxSeries) {
          this.refused++;
          continue;
        }
        s = { values: new Float32Array(this.capacity).fill(NaN), lastSetAt: t };
        this.series.set(key, s);
      }
      s.values[at] = v;
      if (Number.isFinite(v)) s.lastSetAt = t;
    }
    // A series without a value in the whole window is gone (an ended stream, a removed orchestrator).
    for (const [key, s] of this.series) if (s.lastSetAt <= t - this.capacity) this.series.delete(key);
    return true;
  }

  /** Moves to the next slot (overwriting the oldest when full), NaN in every series; returns its index. */
  private advance(): number {
    let at: number;
    if (this.count < this.capacity) {
      at = (this.head + this.count) % this.capacity;
      this.count++;
    } else {
      at = this.head;
      this.head = (this.head + 1) % this.capacity;
    }
    for (const s of this.series.values()) s.values[at] = NaN;
    return at;
  }

  /** The newest `seconds` points (at most what is kept) of the series `match` accepts. */
  read(seconds: number, match: (key: string) => boolean = () => true): SeriesSnapshot {
    const n = Math.max(0, Math.min(Math.floor(seconds), this.count));
    const first = this.head + this.count - n;
    const out: SeriesSnapshot = { start: this.count ? this.last - n + 1 : 0, length: n, series: {} };
    for (const [key, s] of this.series) {
      if (!match(key)) continue;
      const arr = new Array<number | null>(n);
      for (let i = 0; i < n; i++) arr[i] = finiteOrNull(s.values[(first + i) % this.capacity]!);
      out.series[key] = arr;
    }
    return out;
  }

  /** The newest value of a series (null when it had none at the last second). */
  latest(key: string): number | null {
    const s = this.series.get(key);
    if (!s || this.count === 0) return null;
    return finiteOrNull(s.values[(this.head + this.count - 1) % this.capacity]!);
  }
}

/** A stored value for JSON: null for none, six significant digits (float32 keeps about seven). */
function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? Number(v.toPrecision(6)) : null;
}
