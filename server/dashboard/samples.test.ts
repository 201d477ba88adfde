// The dashboard sampler: one point a second from its inputs, frames with new values and only the rows that changed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DashboardSampler, type LiveFrame, type StreamSample } from "./samples.ts";
import { SpendToday } from "./spend-today.ts";
import type { OrchestratorSnapshot } from "../orchestrators/registry.ts";

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

function stream(id: string, over: Partial<StreamSample> = {}): StreamSample {
  return {
    id, name: id, pipeline: "passthrough", protocol: "rtmp", ownerKeyId: "key_1", startedAt: T0,
    bitrateBps: 1_000_000, fps: 30, video: "h264 640x360", viewers: { hls: 1, webrtc: 2 },
    orchestrator: null, standby: null, swaps: 0, state: null, ...over,
  };
}

function orch(address: string, over: Partial<OrchestratorSnapshot> = {}): OrchestratorSnapshot {
  return {
    address, source: "static", discoveryScore: 1, region: null, reachable: true, lastError: null, lastRefreshAt: null,
    nextRefreshAt: new Date(T0).toISOString(), transcoder: address, version: null, price: null,
    capabilities: [{ id: 27, name: "TextToImage", capacity: 1, models: {} }],
    capabilitiesPrices: [{ capability: 27, modelId: "m", pricePerUnit: 5, pixelsPerUnit: 1 }],
    tokenExpiresAt: null, latencyMs: null, reliability: 1, successes: 0, failures: 0, busy: 0, suspendedUntil: null, penaltyLevel: 0, ...over,
  };
}

/** A sampler with a subscriber (rows are built for subscribers only), unless `watched` is false. */
function sampler(state: { streams: StreamSample[]; orchs: OrchestratorSnapshot[] }, watched = true) {
  const spend = new SpendToday({ ethPrice: 3000, group: async () => [], now: () => T0 });
  const s = new DashboardSampler({ streams: () => [...state.streams], orchestrators: () => state.orchs, spend, currency: "USD" }, { windowSec: 60 });
  if (watched) s.subscribe(() => {});
  return s;
}

test("a tick records the totals and per-stream series; the first frame carries the keys and every row", () => {
  const state = { streams: [stream("a"), stream("b", { bitrateBps: 500_000, viewers: { hls: 3, webrtc: 0 } })], orchs: [orch("https://o1")] };
  const s = sampler(state);
  const f = s.tick(T0)!;
  const v = (k: string) => f.v[f.k!.indexOf(k)];
  assert.equal(v("streams.live"), 2);
  assert.equal(v("ingest.bps"), 1_500_000);
  assert.equal(v("viewers.hls"), 4);
  assert.equal(v("viewers.webrtc"), 2);
  assert.equal(v("stream.bps.b"), 500_000);
  assert.equal(v("orchestrators.ok"), 1);
  assert.deepEqual(f.streams!.upsert.map((r) => r.id), ["a", "b"]);
  assert.ok(!("bitrateBps" in f.streams!.upsert[0]!), "numbers that change every second travel as series, not rows");
  const o = f.orchestrators!.upsert[0]!;
  assert.equal(o.capabilities[0]!.label, "text-to-image");
  assert.equal(o.capabilitiesPrices[0]!.label, "text-to-image");
});

test("later frames: no keys unless they changed, only changed rows, removals", () => {
  const state = { streams: [stream("a"), stream("b")], orchs: [orch("https://o1")] };
  const s = sampler(state);
  s.tick(T0);
  const same = s.tick(T0 + 1000)!;
  assert.equal(same.k, undefined);
  assert.equal(same.streams, undefined);
  assert.equal(same.orchestrators, undefined);
  state.streams = [stream("a", { viewers: { hls: 9, webrtc: 2 } })];
  state.orchs = [orch("https://o1", { suspendedUntil: new Date(T0 + 60_000).toISOString() })];
  const changed = s.tick(T0 + 2000)!;
  assert.deepEqual(changed.streams!.upsert.map((r) => [r.id, r.viewers.hls]), [["a", 9]]);
  assert.deepEqual(changed.streams!.remove, ["b"]);
  assert.equal(changed.orchestrators!.upsert[0]!.suspendedUntil, new Date(T0 + 60_000).toISOString());
  assert.equal(s.window.latest("orchestrators.suspended"), 1);
  // b's series stays in the window (history), with no value now.
  assert.equal(s.window.latest("stream.bps.b"), null);
});

test("batch AI answers of one second: rates by status class, p50/p95 per pipeline, the 5xx share", () => {
  const s = sampler({ streams: [], orchs: [] });
  for (let i = 1; i <= 100; i++) s.observeAi("text-to-image", 200, i);
  s.observeAi("llm", 503, 40);
  s.observeAi("llm", 422, 5);
  s.tick(T0);
  const w = s.window;
  assert.equal(w.latest("ai.rps.2xx"), 100);
  assert.equal(w.latest("ai.rps.4xx"), 1);
  assert.equal(w.latest("ai.rps.5xx"), 1);
  assert.equal(w.latest("ai.p50.text-to-image"), 50);
  assert.equal(w.latest("ai.p95.text-to-image"), 95);
  assert.equal(w.latest("ai.error_ratio"), Number((1 / 102).toPrecision(6)));
  // The next second starts over.
  s.tick(T0 + 1000);
  assert.equal(w.latest("ai.rps.2xx"), 0);
  assert.equal(w.latest("ai.p95.text-to-image"), null);
  assert.equal(w.latest("ai.error_ratio"), null);
});

test("orchestrator calls: per-second p95 and failures, recent p50/p95 in the row, streams it serves", () => {
  const state = { streams: [stream("live1", { orchestrator: "https://o1", standby: "https://o2" })], orchs: [orch("https://o1"), orch("https://o2")] };
  const s = sampler(state);
  for (const ms of [10, 20, 30, 40]) s.observeCall({ address: "https://o1", result: "ok", latencyMs: ms });
  s.observeCall({ address: "https://o2", result: "failed", kind: "timeout" });
  s.observeCall({ address: "https://o2", result: "busy" });
  const f = s.tick(T0)!;
  assert.equal(s.window.latest("orch.p95.https://o1"), 40);
  assert.equal(s.window.latest("orch.failures.https://o2"), 1);
  const [o1, o2] = f.orchestrators!.upsert;
  assert.deepEqual(o1!.recent, { p50: 20, p95: 40, samples: 4 });
  assert.deepEqual(o1!.streams, [{ id: "live1", role: "active" }]);
  assert.deepEqual(o2!.streams, [{ id: "live1", role: "standby" }]);
});

test("bench-only synthetic streams are sampled with the real ones", () => {
  const s = sampler({ streams: [stream("real")], orchs: [] });
  s.injectSyntheticStreams(() => [stream("fake-1"), stream("fake-2")]);
  s.tick(T0);
  assert.equal(s.window.latest("streams.live"), 3);
});

test("hello: the window without per-stream series, the keys and every row", () => {
  const s = sampler({ streams: [stream("a")], orchs: [orch("https://o1")] });
  for (let i = 0; i < 5; i++) s.tick(T0 + i * 1000);
  const h = s.hello(3);
  assert.equal(h.window.length, 3);
  assert.ok("streams.live" in h.window.series);
  assert.ok(!Object.keys(h.window.series).some((k) => k.startsWith("stream.")));
  assert.ok(h.k.includes("stream.bps.a"));
  assert.equal(h.streams.length, 1);
  assert.equal(h.orchestrators.length, 1);
});

test("unwatched: ticks sample the series but build no rows; a hello builds them as they are now, and frames go on from there", () => {
  const state = { streams: [stream("a")], orchs: [orch("https://o1")] };
  const s = sampler(state, false);
  const first = s.tick(T0)!;
  assert.equal(first.streams, undefined);
  assert.equal(first.orchestrators, undefined);
  assert.equal(s.window.latest("streams.live"), 1);
  state.streams = [stream("a", { viewers: { hls: 5, webrtc: 0 } }), stream("b")];
  state.orchs = [orch("https://o1", { suspendedUntil: new Date(T0 + 60_000).toISOString() })];
  s.tick(T0 + 1000);
  const h = s.hello(60);
  assert.deepEqual(h.streams.map((r) => [r.id, r.viewers.hls]), [["a", 5], ["b", 1]]);
  assert.equal(h.orchestrators[0]!.suspendedUntil, new Date(T0 + 60_000).toISOString());
  const frames: LiveFrame[] = [];
  const off = s.subscribe((f) => frames.push(f));
  s.tick(T0 + 2000);
  assert.equal(frames[0]!.streams, undefined, "the hello's rows are the subscriber's: nothing changed since");
  state.streams = [stream("b")];
  s.tick(T0 + 3000);
  assert.deepEqual(frames[1]!.streams, { upsert: [], remove: ["a"] });
  // The subscriber leaves; rows change while nobody watches; the next hello has them.
  off();
  state.streams = [stream("c")];
  s.tick(T0 + 4000);
  assert.deepEqual(s.hello(60).streams.map((r) => r.id), ["c"]);
});

test("a hello whose rows fail to build sends the rows kept (as a tick's failure, logged)", () => {
  const state = { streams: [stream("a")], orchs: [orch("https://o1")] };
  const s = sampler(state, false);
  assert.deepEqual(s.hello(60).streams.map((r) => r.id), ["a"]);
  s.tick(T0);
  state.orchs = [{ ...orch("https://o1"), capabilities: null as never }];
  const h = s.hello(60);
  assert.deepEqual(h.streams.map((r) => r.id), ["a"]);
  assert.equal(h.orchestrators.length, 1);
});
