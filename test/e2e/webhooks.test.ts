// Webhooks against a real Wharf process: a receiver on loopback gets stream.started and
// stream.idle for an RTMP push, signed; events told while the receiver is down (and across a
// Wharf restart) arrive once it is back.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifySignature } from "../../server/webhooks/signature.ts";
import { freePort } from "../support/ports.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";

interface Received { type: string; data: { streamId?: string }; id: string; signatureValid: boolean }

const env = { WHARF_WEBHOOK_ALLOW_PRIVATE: "true" };
let w: WharfProcess;
let dataDir: string;
let receiverPort: number;
let receiver: Server | undefined;
let secret = "";
const got: Received[] = [];

async function startReceiver(): Promise<void> {
  receiver = createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    const json = JSON.parse(body) as { id: string; type: string; data: { streamId?: string } };
    const signatureValid = verifySignature(secret, body, String(req.headers["wharf-signature"]), Math.floor(Date.now() / 1000));
    got.push({ type: json.type, data: json.data, id: json.id, signatureValid });
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => receiver!.listen(receiverPort, "127.0.0.1", r));
}

async function stopReceiver(): Promise<void> {
  receiver?.closeAllConnections();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  receiver = undefined;
}

const eventsOf = (streamId: string) => got.filter((g) => g.data.streamId === streamId).map((g) => g.type);

async function pushOnce(name: string, seconds: number): Promise<string> {
  const s = await w.api("POST", "/v1/streams", { name, pipeline: "passthrough" });
  assert.equal(s.status, 201, JSON.stringify(s.body));
  const pub = pushTestPattern(s.body.rtmpUrl, { seconds, size: "320x180" });
  await waitFor("stream live", async () => (await w.api("GET", `/v1/streams/${s.body.id}`)).body.state === "live", 15000);
  await pub.exited;
  await waitFor("stream idle", async () => (await w.api("GET", `/v1/streams/${s.body.id}`)).body.state === "idle", 15000);
  return s.body.id as string;
}

describe("webhooks", { timeout: 240000 }, () => {
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "wharf-webhooks-"));
    receiverPort = await freePort();
    await startReceiver();
    w = await startWharf({ env, dataDir });
  });
  after(async () => {
    await stopReceiver();
    await w?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("create refuses non-http URLs and unknown events; the secret is shown once", async () => {
    assert.equal((await w.api("POST", "/v1/webhooks", { url: "ftp://127.0.0.1/x", events: ["stream.started"] })).status, 400);
    const bad = await w.api("POST", "/v1/webhooks", { url: `http://127.0.0.1:${receiverPort}/`, events: ["stream.exploded"] });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /unknown event type/);
    const created = await w.api("POST", "/v1/webhooks", { url: `http://127.0.0.1:${receiverPort}/hook`, events: ["stream.started", "stream.idle"] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.match(created.body.secret, /^whsec_/);
    secret = created.body.secret;
    const list = await w.api("GET", "/v1/webhooks");
    assert.equal(list.body.webhooks.length, 1);
    assert.equal(list.body.webhooks[0].secret, undefined, "the secret is not listed");
    assert.equal((await w.api("GET", "/v1/webhooks", undefined, "")).status, 401);
  });

  test("an RTMP push is told as stream.started then stream.idle, signed with the webhook's secret", async () => {
    const id = await pushOnce("hooked", 4);
    await waitFor("both events", () => eventsOf(id).includes("stream.started") && eventsOf(id).includes("stream.idle"), 15000);
    for (const g of got.filter((x) => x.data.streamId === id)) assert.ok(g.signatureValid, `${g.type} signature`);
    const hook = (await w.api("GET", "/v1/webhooks")).body.webhooks[0];
    const deliveries = await w.api("GET", `/v1/webhooks/${hook.id}/deliveries`);
    assert.equal(deliveries.status, 200);
    assert.ok(deliveries.body.deliveries.some((d: { state: string; status: number }) => d.state === "delivered" && d.status === 204), JSON.stringify(deliveries.body));
  });

  test("events told while the receiver is down for 10 s, with a Wharf restart in between, all arrive once it is back", async () => {
    await stopReceiver();
    const downAt = Date.now();
    const id = await pushOnce("while-down", 3);
    const hook = (await w.api("GET", "/v1/webhooks")).body.webhooks[0];
    await waitFor("a failed attempt recorded", async () => {
      const d = await w.api("GET", `/v1/webhooks/${hook.id}/deliveries`);
      return d.body.deliveries.some((x: { state: string; attempts: number; error: string | null }) => x.state === "pending" && x.attempts >= 1 && x.error);
    }, 10000);
    await w.stop();
    w = await startWharf({ env, dataDir });
    await sleep(Math.max(0, 10_000 - (Date.now() - downAt)));
    await startReceiver();
    await waitFor("both events after the receiver came back", () => eventsOf(id).includes("stream.started") && eventsOf(id).includes("stream.idle"), 60000, 200);
    for (const g of got.filter((x) => x.data.streamId === id)) assert.ok(g.signatureValid, `${g.type} signature`);
    const d = await w.api("GET", `/v1/webhooks/${hook.id}/deliveries`);
    assert.ok(d.body.deliveries.every((x: { state: string }) => x.state === "delivered"), JSON.stringify(d.body));
  });
});
