// The rolling window of one-second points: bounded in points and series, contiguous in time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeriesWindow } from "./series-window.ts";

const point = (entries: Record<string, number>) => new Map(Object.entries(entries));

test("keeps at most `capacity` points: the newest, in order", () => {
  const w = new SeriesWindow(5, 10);
  for (let t = 100; t < 120; t++) w.append(t, point({ a: t }));
  const r = w.read(3600);
  assert.equal(r.length, 5);
  assert.equal(r.start, 115);
  assert.deepEqual(r.series.a, [115, 116, 117, 118, 119]);
  assert.deepEqual(w.read(2).series.a, [118, 119]);
  assert.equal(w.latest("a"), 119);
});

test("skipped seconds are points without values; a second not after the last is ignored", () => {
  const w = new SeriesWindow(10, 10);
  w.append(10, point({ a: 1 }));
  w.append(13, point({ a: 4 }));
  assert.equal(w.append(13, point({ a: 99 })), false);
  assert.equal(w.append(12, point({ a: 99 })), false);
  const r = w.read(10);
  assert.equal(r.start, 10);
  assert.deepEqual(r.series.a, [1, null, null, 4]);
});

test("a series missing from a point has no value there; a new series has none before it appeared", () => {
  const w = new SeriesWindow(10, 10);
  w.append(1, point({ a: 1 }));
  w.append(2, point({ b: 2 }));
  const r = w.read(10);
  assert.deepEqual(r.series.a, [1, null]);
  assert.deepEqual(r.series.b, [null, 2]);
  assert.equal(w.latest("a"), null);
});

test("at most `maxSeries` series; more are refused and counted", () => {
  const w = new SeriesWindow(10, 3);
  w.append(1, point({ a: 1, b: 1, c: 1, d: 1, e: 1 }));
  assert.equal(w.seriesCount, 3);
  assert.equal(w.refused, 2);
  assert.deepEqual(w.keys(), ["a", "b", "c"]);
});

test("a series without a value for a whole window is dropped (ended streams do not pile up)", () => {
  const w = new SeriesWindow(4, 10);
  w.append(1, point({ gone: 5, stays: 1 }));
  for (let t = 2; t <= 4; t++) w.append(t, point({ stays: t }));
  assert.ok(w.keys().includes("gone"));
  w.append(5, point({ stays: 5 }));
  assert.deepEqual(w.keys(), ["stays"]);
});

test("a long gap does not loop more than the window", () => {
  const w = new SeriesWindow(3, 10);
  w.append(1, point({ a: 1 }));
  w.append(1_000_000_000, point({ a: 2 }));
  assert.deepEqual(w.read(3), { start: 999_999_998, length: 3, series: { a: [null, null, 2] } });
});

test("read filters series and rounds float32 noise away", () => {
  const w = new SeriesWindow(3, 10);
  w.append(1, point({ "money.charge": 0.1, "stream.bps.x": 1 }));
  const r = w.read(3, (k) => k.startsWith("money."));
  assert.deepEqual(Object.keys(r.series), ["money.charge"]);
  assert.equal(r.series["money.charge"]![0], 0.1);
});
