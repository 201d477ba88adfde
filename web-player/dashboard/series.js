// The page's copy of the one-second series: one time axis and a value array per key, aligned,
// at most `capacity` points (the oldest drop off). Arrays are handed to uPlot as they are.

export class SeriesStore {
  constructor(capacity = 3600) {
    this.capacity = capacity;
    this.times = [];
    this.values = new Map();
    this.keys = [];
    this.pushes = 0;
  }

  /** Replaces everything with a snapshot {start, length, series}. */
  load(snapshot) {
    this.times = Array.from({ length: snapshot.length }, (_, i) => snapshot.start + i);
    this.values = new Map(Object.entries(snapshot.series));
  }

  /** Merges one key's history {start, length, values} (a stream's series fetched on demand). */
  merge(key, start, values) {
    const arr = this.series(key);
    const t0 = this.times[0];
    for (let i = 0; i < values.length; i++) {
      const at = start + i - t0;
      if (at >= 0 && at < arr.length && values[i] !== null) arr[at] = values[i];
    }
  }

  /** The array of a key (filled with nulls when it is new). */
  series(key) {
    let arr = this.values.get(key);
    if (!arr) {
      arr = new Array(this.times.length).fill(null);
      this.values.set(key, arr);
    }
    return arr;
  }

  /** One frame: second t, `keys` (when they changed) and the values in key order. */
  push(t, keys, values) {
    if (keys) this.keys = keys;
    const last = this.times[this.times.length - 1];
    if (last !== undefined && t <= last) return;
    // Seconds the page missed (a reconnect): points without values.
    const gap = last === undefined ? 0 : Math.min(t - last - 1, this.capacity);
    for (let i = gap; i > 0; i--) this.appendPoint(t - i, null);
    this.appendPoint(t, values);
  }

  appendPoint(t, values) {
    this.times.push(t);
    const seen = new Set();
    if (values) {
      for (let i = 0; i < this.keys.length; i++) {
        const k = this.keys[i];
        seen.add(k);
        const arr = this.values.get(k);
        if (arr) arr.push(values[i]);
        else {
          const fresh = new Array(this.times.length - 1).fill(null);
          fresh.push(values[i]);
          this.values.set(k, fresh);
        }
      }
    }
    for (const [k, arr] of this.values) {
      if (!seen.has(k)) arr.push(null);
    }
    const extra = this.times.length - this.capacity;
    if (extra > 0) {
      this.times.splice(0, extra);
      for (const arr of this.values.values()) arr.splice(0, extra);
    }
    // Once a minute: forget keys without a value in the window (ended streams).
    if (++this.pushes % 60 === 0) {
      for (const [k, arr] of this.values) if (arr.every((v) => v === null)) this.values.delete(k);
    }
  }

  latest(key) {
    const arr = this.values.get(key);
    return arr && arr.length ? arr[arr.length - 1] : null;
  }

  /** Keys starting with `prefix`, sorted. */
  keysWith(prefix) {
    const out = [];
    for (const k of this.values.keys()) if (k.startsWith(prefix)) out.push(k);
    return out.sort();
  }

  /** The last `n` values of a key. */
  tail(key, n) {
    const arr = this.values.get(key);
    return arr ? arr.slice(-n) : [];
  }
}
