import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { encodeBase64 } from "../messages.ts";
import { RemoteSignerClient, RemoteSignerError, signerOrigin } from "./remote-signer-client.ts";

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
let handler: Handler = (_req, _body, res) => res.end();
let origin = "";
const server = createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => handler(req, body, res));
});
before(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};
const orchestrator = { transcoder: "https://o1:8935", priceInfo: { pricePerUnit: 1, pixelsPerUnit: 1 } };
const paidBody = { payment: encodeBase64("Payment", { sender: new Uint8Array(20).fill(1) }), segCreds: encodeBase64("SegData", { seq: 0 }), state: { State: "e30=", Sig: "AAAA" } };

test("every call carries the configured headers; the payment request has go's key spelling", async () => {
  const seen: Array<{ url: string; key: string | undefined; body: string }> = [];
  handler = (req, body, res) => {
    seen.push({ url: req.url!, key: req.headers["x-api-key"] as string | undefined, body });
    if (req.url === "/sign-orchestrator-info") return json(res, 200, { address: "0x" + "11".repeat(20), signature: "0x" + "22".repeat(65) });
    if (req.url === "/generate-live-payment") return json(res, 200, paidBody);
    return json(res, 200, [{ address: "https://o1:8935", score: 1, capabilities: ["live-video-to-video/m"] }, { nope: 1 }]);
  };
  const client = new RemoteSignerClient({ url: `${origin}/ignored/path`, headers: { "X-Api-Key": "k1" } });
  const sig = await client.signOrchestratorInfo();
  assert.equal(sig.address.length, 20);
  assert.equal(sig.signature.length, 65);
  const paid = await client.generateLivePayment({ orchestrator, type: "lv2v", manifestId: "m1", state: { State: "e30=", Sig: "AAAA" } });
  assert.equal(paid.kind, "Paid");
  const found = await client.discoverOrchestrators(["live-video-to-video/m", "text-to-image/sd"]);
  assert.deepEqual(found, [{ address: "https://o1:8935", score: 1, capabilities: ["live-video-to-video/m"] }]);
  assert.deepEqual(seen.map((s) => s.key), ["k1", "k1", "k1"]);
  assert.equal(seen[2]!.url, "/discover-orchestrators?caps=live-video-to-video/m&caps=text-to-image/sd");
  const sent = JSON.parse(seen[1]!.body);
  assert.equal(sent.ManifestID, "m1");
  assert.equal(sent.type, "lv2v");
  assert.deepEqual(sent.state, { State: "e30=", Sig: "AAAA" });
  assert.equal(typeof sent.orchestrator, "string");
});

test("480, 481 and 482 are results: refresh names the orchestrator from the header", async () => {
  const client = new RemoteSignerClient({ url: origin });
  handler = (_req, _b, res) => json(res, 480, { error: { message: "refresh session for remote signer" } }, { "Livepeer-Orchestrator-URL": "https://o2:8935" });
  assert.deepEqual(await client.generateLivePayment({ orchestrator, type: "lv2v" }), { kind: "RefreshSession", orchestratorUrl: "https://o2:8935", message: "refresh session for remote signer" });
  handler = (_req, _b, res) => json(res, 481, { error: { message: "orchestrator price 2.000 exceeds request maxPrice ceiling 1.000" } });
  assert.equal((await client.generateLivePayment({ orchestrator, type: "lv2v" })).kind, "PriceTooHigh");
  handler = (_req, _b, res) => json(res, 482, { error: { message: "no tickets" } });
  assert.deepEqual(await client.generateLivePayment({ orchestrator, type: "lv2v" }), { kind: "NoTicketsNeeded", message: "no tickets" });
});

test("other statuses throw with the signer's message and never the configured headers", async () => {
  handler = (_req, _b, res) => json(res, 400, { error: { message: "missing manifestID" } });
  const client = new RemoteSignerClient({ url: origin, headers: { authorization: "Bearer s3cret" } });
  await assert.rejects(client.generateLivePayment({ orchestrator, type: "lv2v" }), (err: RemoteSignerError) => {
    assert.equal(err.failure, "status");
    assert.equal(err.status, 400);
    assert.match(err.message, /400: missing manifestID/);
    assert.doesNotMatch(err.message + String(err.stack), /s3cret/);
    return true;
  });
});

test("a malformed answer is a bad-response error", async () => {
  const client = new RemoteSignerClient({ url: origin });
  handler = (_req, _b, res) => json(res, 200, { payment: "", state: {} });
  await assert.rejects(client.generateLivePayment({ orchestrator, type: "lv2v" }), { failure: "bad-response" });
  handler = (_req, _b, res) => json(res, 200, { address: "0x1234", signature: "0x" });
  await assert.rejects(client.signOrchestratorInfo(), { failure: "bad-response" });
  handler = (_req, _b, res) => json(res, 200, { not: "a list" });
  await assert.rejects(client.discoverOrchestrators(), { failure: "bad-response" });
  handler = (_req, _b, res) => res.end("<html>");
  await assert.rejects(client.signOrchestratorInfo(), { failure: "bad-response" });
});

test("an answer over the size limit is refused", async () => {
  handler = (_req, _b, res) => json(res, 200, { ...paidBody, padding: "x".repeat(4096) });
  const client = new RemoteSignerClient({ url: origin, maxResponseBytes: 1024 });
  await assert.rejects(client.generateLivePayment({ orchestrator, type: "lv2v" }), (err: RemoteSignerError) => err.failure === "bad-response" && /larger than 1024 bytes/.test(err.message));
});

test("a signer that does not answer times out within the bound", async () => {
  handler = () => {};
  const client = new RemoteSignerClient({ url: origin, timeoutMs: 200 });
  const t0 = Date.now();
  await assert.rejects(client.signOrchestratorInfo(), { failure: "timeout" });
  assert.ok(Date.now() - t0 < 2000);
});

test("an unreachable signer says so", async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const client = new RemoteSignerClient({ url: `http://127.0.0.1:${port}` });
  await assert.rejects(client.signOrchestratorInfo(), (err: RemoteSignerError) => err.failure === "unreachable" && /ECONNREFUSED/.test(err.message));
});

test("a URL without scheme means https, as go-livepeer's -remoteSignerUrl", () => {
  assert.equal(signerOrigin("signer.example:3935"), "https://signer.example:3935");
  assert.equal(signerOrigin("http://127.0.0.1:1/x"), "http://127.0.0.1:1");
  assert.throws(() => signerOrigin("ftp://x"));
});
