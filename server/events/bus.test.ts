// The event bus: bounded replay ring, ids that grow across restarts, filters, subscribers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventBus } from "./bus.ts";

const idle = (n: number) => ({ streamId: `s${n}`, name: `stream ${n}`, reason: "publisher-left" });

test("the ring keeps only the newest `capacity` events, oldest first", () => {
  const bus = new EventBus({ capacity: 3 });
  for (let i = 0; i < 10; i++) bus.publish("stream.idle", idle(i));
  assert.equal(bus.size, 3);
  const kept = bus.recent();
  assert.deepEqual(kept.map((e) => (e.data as { streamId: string }).streamId), ["s7", "s8", "s9"]);
  assert.ok(kept[0]!.id < kept[1]!.id && kept[1]!.id < kept[2]!.id, "ids grow");
});

test("Last-Event-ID replay: events after it; all kept ones when it is older than the ring", () => {
  const bus = new EventBus({ capacity: 4 });
  const ids = Array.from({ length: 6 }, (_, i) => bus.publish("stream.idle", idle(i)).id);
  assert.deepEqual(bus.recent({ afterId: ids[3] }).map((e) => e.id), [ids[4], ids[5]]);
  assert.deepEqual(bus.recent({ afterId: ids[5] }), []);
  assert.deepEqual(bus.recent({ afterId: ids[0] }).map((e) => e.id), ids.slice(2), "missed events: the whole ring");
});

test("type filter, match and limit", () => {
  const bus = new EventBus();
  bus.publish("stream.started", { streamId: "a", name: "a", pipeline: "passthrough", protocol: "rtmp", ownerKeyId: null });
  bus.publish("key.revoked", { keyId: "key_1" });
  bus.publish("stream.idle", idle(1));
  bus.publish("stream.idle", idle(2));
  assert.deepEqual(bus.recent({ types: new Set(["key.revoked"]) }).map((e) => e.type), ["key.revoked"]);
  assert.deepEqual(bus.recent({ types: new Set(["stream.idle"]), limit: 1 }).map((e) => (e.data as { streamId: string }).streamId), ["s2"]);
  assert.equal(bus.recent({ match: (e) => (e.data as { streamId?: string }).streamId === "a" }).length, 1);
});

test("ids keep growing across a restart (a new bus started later)", () => {
  let now = 1_700_000_000_000;
  const first = new EventBus({ now: () => now });
  let last = 0;
  for (let i = 0; i < 5000; i++) last = first.publish("stream.idle", idle(i)).id; // 5000 events within one millisecond
  now += 10; // restarted 10 ms later
  const second = new EventBus({ now: () => now });
  assert.ok(second.publish("stream.idle", idle(0)).id > last);
});

test("subscribers get events as published; unsubscribe stops them; a throwing listener does not stop the others", () => {
  const bus = new EventBus();
  const got: string[] = [];
  bus.subscribe(() => {
    throw new Error("broken listener");
  });
  const off = bus.subscribe((e) => got.push(e.type));
  bus.publish("key.revoked", { keyId: "k" });
  off();
  bus.publish("key.revoked", { keyId: "k2" });
  assert.deepEqual(got, ["key.revoked"]);
  assert.equal(bus.subscribers, 1);
  assert.match(bus.recent()[0]!.at, /^\d{4}-\d\d-\d\dT/);
});
