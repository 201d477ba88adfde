// Webhook delivery from the outbox: signed bodies, filters, retries with backoff, a slow receiver
// holding back only its own queue, and pending rows surviving a new WebhookDelivery (a restart).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../accounts/sqlite-schema.ts";
import { EventBus } from "../events/bus.ts";
import { retryDelayMs, WebhookDelivery } from "./delivery.ts";
import { verifySignature } from "./signature.ts";
import { SqliteWebhookStore } from "./store.ts";
import { targetUrlProblem } from "./target-url.ts";

const dir = mkdtempSync(join(tmpdir(), "wharf-webhooks-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Received { body: string; signature: string; json: { id: string; type: string; createdAt: string; data: Record<string, unknown> } }

async function receiver(answer: (req: IncomingMessage) => Promise<number> | number): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    const status = await answer(req);
    if (status < 300) got.push({ body, signature: String(req.headers["wharf-signature"]), json: JSON.parse(body) });
    res.writeHead(status).end("nope");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, got, server };
}

async function until(label: string, fn: () => boolean | Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function setup(name: string) {
  const db = openDatabase(join(dir, `${name}.db`));
  after(() => db.close());
  return { db, store: new SqliteWebhookStore(db) };
}

test("a matching event is POSTed as {id, type, createdAt, data} with a valid Wharf-Signature; others are not", async () => {
  const { store } = setup("signed");
  const r = await receiver(() => 204);
  await store.create({ id: "wh_a", url: r.url, events: ["stream.started"], streamId: "s1", secret: "whsec_test", createdAt: Date.now() });
  const bus = new EventBus();
  const d = new WebhookDelivery(store, { allowPrivate: true, timeoutMs: 2000 });
  await d.start(bus);
  bus.publish("stream.started", { streamId: "s2", name: "other", pipeline: "passthrough", protocol: "rtmp", ownerKeyId: null });
  bus.publish("stream.idle", { streamId: "s1", name: "n", reason: "publisher-left" });
  const e = bus.publish("stream.started", { streamId: "s1", name: "n", pipeline: "passthrough", protocol: "rtmp", ownerKeyId: null });
  await until("delivery", () => r.got.length === 1);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(r.got.length, 1, "only the stream's started event");
  const [g] = r.got;
  assert.deepEqual(g!.json, { id: String(e.id), type: "stream.started", createdAt: e.at, data: e.data });
  assert.ok(verifySignature("whsec_test", g!.body, g!.signature, Math.floor(Date.now() / 1000)), g!.signature);
  assert.ok(!verifySignature("whsec_other", g!.body, g!.signature, Math.floor(Date.now() / 1000)));
  await until("recorded", async () => (await store.deliveries("wh_a", 10))[0]?.state === "delivered");
  await d.stop();
});

test("a failing receiver is retried with backoff until it answers 2xx; its attempts are recorded", async () => {
  const { store } = setup("retry");
  let fail = 2;
  const r = await receiver(() => (fail-- > 0 ? 503 : 200));
  await store.create({ id: "wh_r", url: r.url, events: ["key.revoked"], streamId: null, secret: "s", createdAt: Date.now() });
  const bus = new EventBus();
  const d = new WebhookDelivery(store, { allowPrivate: true, timeoutMs: 2000 });
  await d.start(bus);
  bus.publish("key.revoked", { keyId: "k1" });
  await until("delivered after retries", () => r.got.length === 1, 8000);
  await until("recorded", async () => (await store.deliveries("wh_r", 1))[0]?.state === "delivered");
  assert.equal((await store.deliveries("wh_r", 1))[0]!.attempts, 3);
  await d.stop();
});

test("a receiver that never answers holds back only its own queue", async () => {
  const { store } = setup("slow");
  const slow = await receiver(() => new Promise<number>(() => undefined));
  const fast = await receiver(() => 200);
  await store.create({ id: "wh_slow", url: slow.url, events: ["key.revoked"], streamId: null, secret: "s", createdAt: Date.now() });
  await store.create({ id: "wh_fast", url: fast.url, events: ["key.revoked"], streamId: null, secret: "s", createdAt: Date.now() });
  const bus = new EventBus();
  const d = new WebhookDelivery(store, { allowPrivate: true, timeoutMs: 3000 });
  await d.start(bus);
  const t0 = Date.now();
  for (let i = 0; i < 20; i++) bus.publish("key.revoked", { keyId: `k${i}` });
  await until("fast receiver got all 20", () => fast.got.length === 20, 3000);
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  await d.stop();
  slow.server.closeAllConnections();
});

test("pending deliveries are sent by the next WebhookDelivery on the same database (a restart)", async () => {
  const { store } = setup("restart");
  let up = false;
  const r = await receiver(() => (up ? 200 : 503));
  await store.create({ id: "wh_x", url: r.url, events: ["stream.deleted"], streamId: null, secret: "s", createdAt: Date.now() });
  const bus1 = new EventBus();
  const d1 = new WebhookDelivery(store, { allowPrivate: true, timeoutMs: 1000 });
  await d1.start(bus1);
  bus1.publish("stream.deleted", { streamId: "gone" });
  await until("first attempt failed", async () => (await store.deliveries("wh_x", 1))[0]?.attempts === 1);
  await d1.stop();
  up = true;
  const d2 = new WebhookDelivery(store, { allowPrivate: true, timeoutMs: 1000 });
  await d2.start(new EventBus());
  await until("delivered after the restart", () => r.got.length === 1, 5000);
  assert.equal(r.got[0]!.json.data.streamId, "gone");
  await d2.stop();
});

test("retry delays double from 1 s to at most an hour (with +-20 % jitter)", () => {
  assert.equal(retryDelayMs(1, () => 0.5), 1000);
  assert.equal(retryDelayMs(4, () => 0.5), 8000);
  assert.equal(retryDelayMs(30, () => 0.5), 3_600_000);
  assert.equal(retryDelayMs(1, () => 0), 800);
});

test("webhook URLs: http(s) only; loopback and private addresses only when allowed", () => {
  assert.match(targetUrlProblem("ftp://example.com/x", false)!, /only http and https/);
  assert.match(targetUrlProblem("not a url", false)!, /not a URL/);
  assert.match(targetUrlProblem("http://127.0.0.1:9/x", false)!, /webhookAllowPrivate/);
  assert.match(targetUrlProblem("http://[::1]/x", false)!, /webhookAllowPrivate/);
  assert.match(targetUrlProblem("http://10.1.2.3/x", false)!, /webhookAllowPrivate/);
  assert.match(targetUrlProblem("http://localhost/x", false)!, /webhookAllowPrivate/);
  assert.equal(targetUrlProblem("http://127.0.0.1:9/x", true), undefined);
  assert.equal(targetUrlProblem("https://example.com/hooks", false), undefined);
});
