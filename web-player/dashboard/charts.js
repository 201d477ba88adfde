// Charts of the page: uPlot time charts over the series store, canvas sparklines for the
// stat tiles, and the number formats they share.
import uPlot from "/vendor/uplot/uPlot.esm.js";

export const PALETTE = ["#6cb6ff", "#3fb950", "#f0883e", "#f85149", "#bc8cff", "#e3b341", "#39c5cf", "#ff7eb6", "#a5d6ff", "#7ee787"];

export const fmt = {
  count: (v) => (v == null ? "–" : Math.abs(v) >= 100 ? Math.round(v).toString() : String(Math.round(v * 10) / 10)),
  bits: (v) => (v == null ? "–" : v >= 1e9 ? (v / 1e9).toFixed(2) + " Gbit/s" : v >= 1e6 ? (v / 1e6).toFixed(2) + " Mbit/s" : v >= 1e3 ? Math.round(v / 1e3) + " kbit/s" : Math.round(v) + " bit/s"),
  ms: (v) => (v == null ? "–" : v >= 10_000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms"),
  ratio: (v) => (v == null ? "–" : (v * 100).toFixed(v < 0.1 ? 1 : 0) + " %"),
  rate: (v) => (v == null ? "–" : (Math.round(v * 10) / 10) + "/s"),
  money: (currency) => (v) => (v == null ? "–" : (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2)) + " " + currency),
};

/** Indexes of values with no value on either side (a line would not show them). */
function isolatedPoints(u, seriesIdx) {
  const d = u.data[seriesIdx];
  let out = null;
  for (let i = 0; i < d.length; i++) {
    if (d[i] == null || (i > 0 && d[i - 1] != null) || (i < d.length - 1 && d[i + 1] != null)) continue;
    (out ??= []).push(i);
  }
  return out;
}

const AXIS = { stroke: "#9aa5b1", grid: { stroke: "#222a33", width: 1 }, ticks: { stroke: "#222a33" }, font: "11px system-ui" };

/**
 * A time chart of store series. `series` is a fixed list of {key, label}, or `prefix` picks
 * every key starting with it (one line each; the chart is rebuilt when that set changes).
 */
export class TimeChart {
  constructor(el, store, opts) {
    this.el = el;
    this.store = store;
    this.opts = opts;
    this.plot = null;
    this.keys = [];
  }

  wantedSeries() {
    if (this.opts.series) return this.opts.series;
    const label = this.opts.label || ((k) => k.slice(this.opts.prefix.length));
    return this.store.keysWith(this.opts.prefix).slice(0, this.opts.max || 10).map((key) => ({ key, label: label(key) }));
  }

  build(series) {
    if (this.plot) this.plot.destroy();
    this.keys = series.map((s) => s.key);
    const f = this.opts.fmt || fmt.count;
    const width = Math.max(200, this.el.clientWidth || 400);
    this.plot = new uPlot(
      {
        width,
        height: this.opts.height || 170,
        pxAlign: 0,
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        legend: { show: true, live: true },
        scales: { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min ?? 0), max > 0 ? max * 1.1 : 1] } },
        axes: [{ ...AXIS, space: 60 }, { ...AXIS, size: 70, values: (u, vals) => vals.map((v) => f(v)) }],
        series: [
          {},
          ...series.map((s, i) => ({
            label: s.label,
            stroke: s.color || PALETTE[i % PALETTE.length],
            width: 1.5,
            spanGaps: false,
            // Lines only, but a lone value (one AI answer in a quiet minute) still shows as a dot.
            points: { show: false, size: 4, filter: isolatedPoints },
            value: (u, v) => f(v),
          })),
        ],
      },
      this.data(),
      this.el,
    );
  }

  data() {
    return [this.store.times, ...this.keys.map((k) => this.store.series(k))];
  }

  /** New points (called at most once a second, and only while the chart is on screen). */
  update() {
    const series = this.wantedSeries();
    const keys = series.map((s) => s.key);
    if (!this.plot || keys.join("\n") !== this.keys.join("\n")) this.build(series);
    else this.plot.setData(this.data());
  }

  resize() {
    if (this.plot && this.el.clientWidth) this.plot.setSize({ width: this.el.clientWidth, height: this.opts.height || 170 });
  }

  /** Points in the chart (what the browser test checks). */
  get points() {
    return this.plot ? this.plot.data[0].length : 0;
  }

  destroy() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}

/** A sparkline of the last values of a series, drawn on a canvas (no library, a few hundred points). */
export function drawSparkline(canvas, values, color = "#6cb6ff") {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 120;
  const h = canvas.clientHeight || 28;
  if (canvas.width !== w * dpr) {
    canvas.width = w * dpr;
    canvas.height = h * dpr;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v == null) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min === Infinity) return;
  if (min > 0) min = 0;
  const span = max - min || 1;
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.2;
  ctx.beginPath();
  let pen = false;
  const step = w / Math.max(1, values.length - 1);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v == null) {
      pen = false;
      continue;
    }
    const x = i * step;
    const y = h - 2 - ((v - min) / span) * (h - 4);
    if (pen) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
    pen = true;
  }
  ctx.stroke();
}
