// GET /v1/events: replay and Last-Event-ID, type filters, and a client that reads too slowly is cut off
// with its queue bounded (the gateway's memory does not grow with it).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { EventBus } from "./bus.ts";
import { registerEventRoutes } from "./routes.ts";
import { metrics } from "../../core/metrics.ts";

const MAX_BUFFERED = 64 * 1024;
let app: FastifyInstance;
let bus: EventBus;
let base: string;

before(async () => {
  app = Fastify();
  bus = new EventBus({ capacity: 50 });
  registerEventRoutes(app, { bus, preHandler: async () => {}, maxBufferedBytes: MAX_BUFFERED });
  await app.listen({ host: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});
after(async () => {
  await app.close();
});

/** Reads SSE `data:` events from a fetch until `n` arrived. */
async function readEvents(res: Response, n: number): Promise<Array<{ id: number; type: string; data: Record<string, unknown> }>> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = "";
  const out: Array<{ id: number; type: string; data: Record<string, unknown> }> = [];
  while (out.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) out.push(JSON.parse(data));
    }
  }
  await reader.cancel();
  return out;
}

test("on connect the kept events are replayed, then new ones follow; Last-Event-ID skips those seen", async () => {
  const first = bus.publish("key.revoked", { keyId: "k1" });
  const second = bus.publish("key.revoked", { keyId: "k2" });
  const res = await fetch(`${base}/v1/events`);
  assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reading = readEvents(res, 3);
  setTimeout(() => bus.publish("orchestrator.recovered", { address: "https://o" }), 50);
  const got = await reading;
  assert.deepEqual(got.map((e) => e.id), [first.id, second.id, got[2]!.id]);
  assert.equal(got[2]!.type, "orchestrator.recovered");

  const resumed = await fetch(`${base}/v1/events`, { headers: { "last-event-id": String(first.id) } });
  assert.deepEqual((await readEvents(resumed, 2)).map((e) => e.id), [second.id, got[2]!.id]);
  // Clients that left are unsubscribed.
  for (let i = 0; i < 100 && bus.subscribers > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(bus.subscribers, 0);
});

test("?types= filters replay and live events; an unknown type is a 400 naming it", async () => {
  bus.publish("stream.deleted", { streamId: "s1" });
  const res = await fetch(`${base}/v1/events?types=stream.deleted,stream.orchestrator_swap`);
  const reading = readEvents(res, 2);
  setTimeout(() => {
    bus.publish("key.revoked", { keyId: "not me" });
    bus.publish("stream.orchestrator_swap", { streamId: "s2", reason: "no-output", detail: "", from: "a", to: "b" });
  }, 50);
  const got = await reading;
  assert.deepEqual(got.map((e) => e.type), ["stream.deleted", "stream.orchestrator_swap"]);
  const bad = await fetch(`${base}/v1/events?types=stream.started,stream.exploded`);
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { message: string }).message, /stream\.exploded/);
});

test("a client that stops reading is dropped once its queue passes the bound", async () => {
  const dropped = async () => (await metrics.eventClientsDropped.get()).values.find((v) => v.labels.endpoint === "events")?.value ?? 0;
  const droppedBefore = await dropped();
  const port = Number(new URL(base).port);
  const sock = connect(port, "127.0.0.1");
  await new Promise((r) => sock.once("connect", r));
  let isClosed = false;
  sock.once("close", () => (isClosed = true));
  sock.write(`GET /v1/events?types=stream.error HTTP/1.1\r\nHost: x\r\n\r\n`);
  await new Promise((r) => sock.once("data", r)); // headers arrived
  sock.pause(); // and never read again
  const subscribed = bus.subscribers;
  const detail = "x".repeat(16 * 1024);
  // The kernel's socket buffers take some megabytes first; then the gateway's queue fills and the client is cut off.
  let published = 0;
  while (bus.subscribers === subscribed && published < 20_000) {
    bus.publish("stream.error", { streamId: "s", name: "s", reason: "failed", detail });
    published++;
    await new Promise((r) => setImmediate(r)); // let each write reach the socket, as events do spread over time
  }
  assert.equal(bus.subscribers, subscribed - 1, `still subscribed after ${published} events of 16 KiB`);
  assert.ok(published > 10, `dropped after ${published} events: the kernel buffers should take some first`);
  assert.ok(published < 20_000);
  assert.equal(await dropped(), droppedBefore + 1);
  sock.destroy();
  await new Promise((r) => (isClosed ? r(undefined) : sock.once("close", r)));
});
