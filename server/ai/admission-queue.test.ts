import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { AdmissionQueue, QueueRefusal } from "./admission-queue.ts";
import { Cancellation } from "./cancellation.ts";

const T2I = "text-to-image\nsdxl";

/** Queues `n` requests of `keyId`, recording the order in which they get their turn. */
function enqueue(q: AdmissionQueue, keyId: string, n: number, order: string[], lane = T2I): Promise<void>[] {
  return Array.from({ length: n }, (_, i) => {
    const p = q.wait(lane, keyId, Date.now()).then(() => void order.push(`${keyId}${i}`));
    p.catch(() => {}); // those left waiting are refused by close()
    return p;
  });
}

test("turns go round-robin over keys: a second key's one request is next, not behind the first key's burst", async () => {
  const q = new AdmissionQueue({ timeoutMs: 10_000, maxLength: 1000 });
  const order: string[] = [];
  const a = enqueue(q, "a", 20, order);
  const b = enqueue(q, "b", 1, order);
  const c = enqueue(q, "c", 2, order);
  assert.equal(q.length, 23);
  for (let i = 0; i < 6; i++) q.release(T2I);
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(order, ["a0", "b0", "c0", "a1", "c1", "a2"]);
  for (let i = 0; i < 17; i++) q.release(T2I);
  await Promise.all([...a, ...b, ...c]);
  assert.deepEqual(order.slice(6), Array.from({ length: 17 }, (_, i) => `a${i + 3}`), "a key's own requests keep their order");
  assert.equal(q.length, 0);
});

test("lanes are separate: a slot freed for one model gives no turn to another", async () => {
  const q = new AdmissionQueue({ timeoutMs: 10_000, maxLength: 1000 });
  const order: string[] = [];
  enqueue(q, "a", 1, order, "llm\nllama");
  const t = enqueue(q, "b", 1, order);
  q.release("upscale\nx4");
  q.release(T2I);
  await Promise.all(t);
  assert.deepEqual(order, ["b0"]);
  assert.equal(q.has("llm\nllama"), true);
  assert.equal(q.has(T2I), false);
  const waiting = q.wait("llm\nllama", "c", Date.now());
  q.close();
  await assert.rejects(waiting, (e: QueueRefusal) => e.reason === "closing" && /shutting down/.test(e.message));
  assert.equal(q.length, 0);
});

test("a request that found no room again rejoins at the head of its key's line", async () => {
  const q = new AdmissionQueue({ timeoutMs: 10_000, maxLength: 1000 });
  const order: string[] = [];
  enqueue(q, "a", 2, order);
  const again = q.wait(T2I, "a", Date.now(), undefined, true).then(() => void order.push("a-again"));
  q.release(T2I);
  await again;
  assert.deepEqual(order, ["a-again"]);
  q.close();
});

test("a full queue refuses at once; a request waits at most timeoutMs from when it first found no room", async () => {
  const q = new AdmissionQueue({ timeoutMs: 150, maxLength: 3 });
  const t0 = Date.now();
  const waiting = [q.wait(T2I, "a", t0), q.wait(T2I, "b", t0)];
  // One that found no room 100 ms ago has 50 ms left.
  const late = q.wait("llm\nm", "c", t0 - 100);
  await assert.rejects(q.wait(T2I, "d", t0), (e: QueueRefusal) => e.reason === "full" && /full \(3 requests/.test(e.message));
  await assert.rejects(q.wait("llm\nm", "e", t0 - 200), (e: QueueRefusal) => e.reason === "timeout", "past its deadline: refused without waiting");
  const refusals = await Promise.allSettled([...waiting, late]);
  // Idle lanes get a probe turn every 250 ms; the deadlines come first.
  for (const r of refusals) assert.ok(r.status === "rejected" && (r.reason as QueueRefusal).reason === "timeout", JSON.stringify(r));
  const waited = Date.now() - t0;
  assert.ok(waited >= 140 && waited < 400, `refused after ${waited} ms`);
  assert.equal(q.length, 0);
});

test("a client that hangs up leaves the queue; its turn goes to the next", async () => {
  const q = new AdmissionQueue({ timeoutMs: 10_000, maxLength: 1000 });
  const cancel = new Cancellation();
  const gone = q.wait(T2I, "a", Date.now(), cancel);
  const order: string[] = [];
  const next = enqueue(q, "b", 1, order);
  cancel.cancel("client closed the request");
  await assert.rejects(gone, (e: QueueRefusal) => e.reason === "cancelled");
  assert.equal(q.length, 1);
  q.release(T2I);
  await Promise.all(next);
  assert.deepEqual(order, ["b0"]);
});

test("a lane that got no turn for a while gets one (a probe), and the timer stops once nobody waits", async () => {
  const q = new AdmissionQueue({ timeoutMs: 10_000, maxLength: 1000 });
  const t0 = Date.now();
  await q.wait(T2I, "a", t0);
  const probedAfter = Date.now() - t0;
  assert.ok(probedAfter >= 240 && probedAfter < 600, `probe after ${probedAfter} ms`);
  assert.equal(q.length, 0);
  assert.equal((q as unknown as { timer?: unknown }).timer, undefined, "no timer while the queue is empty");
  await sleep(1);
});
