// What feeds the bus: hub, stream, registry and accounts events become Wharf events; repeats of a
// refusal or a reached cap are told once; detaching stops everything.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { EventBus } from "./bus.ts";
import { feedEventBus, type EventSources } from "./feeds.ts";
import { Stream } from "../../media/hub/stream.ts";

function sources(now: () => number) {
  const hub = new EventEmitter();
  const registry = new EventEmitter();
  const accounts = new EventEmitter();
  return { hub, registry, accounts, src: { hub, registry, accounts, now } as unknown as EventSources };
}

function liveStream(id: string): Stream {
  const s = new Stream({ id, name: `name ${id}`, pipeline: "live-video-to-video", streamKey: "k", ownerKeyId: "key_1", createdAt: 0, options: {} });
  s.session = { id: "sess", protocol: "rtmp", remoteAddress: "127.0.0.1", startedAt: 0, disconnect() {} };
  return s;
}

test("a stream's life: started, swaps, idle, error, deleted", () => {
  const bus = new EventBus();
  const { hub, src } = sources(Date.now);
  feedEventBus(bus, src);
  const s = liveStream("s1");
  hub.emit("published", s);
  hub.emit("published", s); // a second session of the same stream: still one swap listener
  s.emit("orchestratorSwap", { reason: "no-output", detail: "3 s without output", from: "https://a", to: "https://b" });
  s.lastEndDetail = "live AI: 6 orchestrator swaps";
  hub.emit("unpublished", s, "failed");
  hub.emit("removed", "s1");
  s.emit("orchestratorSwap", { reason: "late", detail: "", from: "x", to: "y" }); // after removal: not told
  assert.deepEqual(bus.recent().map((e) => e.type), ["stream.started", "stream.started", "stream.orchestrator_swap", "stream.idle", "stream.error", "stream.deleted"]);
  const [started, , swap, idle] = bus.recent();
  assert.deepEqual(started!.data, { streamId: "s1", name: "name s1", pipeline: "live-video-to-video", protocol: "rtmp", ownerKeyId: "key_1" });
  assert.deepEqual(swap!.data, { streamId: "s1", reason: "no-output", detail: "3 s without output", from: "https://a", to: "https://b" });
  assert.deepEqual(idle!.data, { streamId: "s1", name: "name s1", reason: "failed", detail: "live AI: 6 orchestrator swaps" });
});

test("the same refusal of a stream is told once a minute", () => {
  let now = 1_000_000;
  const bus = new EventBus();
  const { hub, src } = sources(() => now);
  feedEventBus(bus, src);
  const s = liveStream("s2");
  for (let i = 0; i < 30; i++, now += 1000) hub.emit("refused", s, { status: 402, reason: "daily spend cap" });
  hub.emit("refused", s, { status: 409, reason: "stream key is already live" });
  now += 60_000;
  hub.emit("refused", s, { status: 409, reason: "stream key is already live" });
  assert.deepEqual(bus.recent().map((e) => (e.data as { status: number }).status), [402, 409, 409]);
});

test("orchestrator suspensions carry where they happened; recoveries follow", () => {
  const bus = new EventBus();
  const { registry, src } = sources(Date.now);
  feedEventBus(bus, src);
  registry.emit("suspended", { address: "https://o", kind: "timeout", suspendedMs: 5000, until: Date.UTC(2026, 0, 1), penaltyLevel: 1, context: { requestId: "r-1" } });
  registry.emit("recovered", "https://o");
  const [s, r] = bus.recent();
  assert.deepEqual(s!.data, { address: "https://o", kind: "timeout", suspendedMs: 5000, until: "2026-01-01T00:00:00.000Z", penaltyLevel: 1, requestId: "r-1" });
  assert.deepEqual(r!.data, { address: "https://o" });
});

test("a reached cap is told once per key, cap and period; a revoked key once; detach stops all", () => {
  let now = Date.UTC(2026, 0, 1, 12);
  const bus = new EventBus();
  const { accounts, hub, src } = sources(() => now);
  const detach = feedEventBus(bus, src);
  const refusal = { cap: "daily", capMicros: 5_000_000, spentMicros: 5_000_000, resetsAt: Date.UTC(2026, 0, 2) };
  for (let i = 0; i < 100; i++) accounts.emit("spendCapReached", "key_a", refusal);
  accounts.emit("spendCapReached", "key_b", refusal);
  accounts.emit("spendCapReached", "key_a", { ...refusal, capMicros: 9_000_000 }); // the cap was raised, and reached again
  now = Date.UTC(2026, 0, 2, 1);
  accounts.emit("spendCapReached", "key_a", { ...refusal, resetsAt: Date.UTC(2026, 0, 3) }); // the next day
  accounts.emit("keyRevoked", "key_a");
  assert.deepEqual(bus.recent().map((e) => [e.type, (e.data as { keyId: string }).keyId]), [
    ["key.spend_cap_reached", "key_a"], ["key.spend_cap_reached", "key_b"], ["key.spend_cap_reached", "key_a"], ["key.spend_cap_reached", "key_a"], ["key.revoked", "key_a"],
  ]);
  detach();
  accounts.emit("keyRevoked", "key_c");
  hub.emit("removed", "s9");
  assert.equal(bus.size, 5);
  assert.equal(accounts.listenerCount("keyRevoked") + hub.listenerCount("removed"), 0);
});
