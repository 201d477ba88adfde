// The headers a proxied request and a relayed answer go out with, and proxyHttp's bound on the
// wait for an answer (real servers on 127.0.0.1).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { answerHeaders, forwardHeaders, proxyHttp, type ProxyOutcome } from "./reverse-proxy.ts";

test("an answer's headers lose hop-by-hop fields; a Vary set before the relay is kept next to the answer's own", () => {
  const upstream = { "content-type": "application/json", connection: "keep-alive", "transfer-encoding": "chunked", vary: "Accept-Encoding" };
  assert.deepEqual(answerHeaders(upstream), { "content-type": "application/json", vary: "Accept-Encoding" });
  const res = { getHeader: (name: string) => (name === "vary" ? "Origin" : undefined) } as unknown as ServerResponse;
  assert.equal(answerHeaders(upstream, res).vary, "Origin, Accept-Encoding", "CORS's Vary: Origin survives the answer's Vary");
  assert.equal(answerHeaders({ "content-type": "text/plain" }, res).vary, undefined, "no Vary in the answer: the one set stays on the response");
});

test("a forwarded request loses hop-by-hop fields and those its Connection header names; extra headers replace or remove (any case); omitted ones stay out", () => {
  const incoming = { host: "wharf", authorization: "Bearer k", "content-type": "application/json", "content-length": "2", connection: "keep-alive", "x-trace": "1", "x-secret-hop": "s" };
  assert.deepEqual(forwardHeaders(incoming, { authorization: undefined }), { "content-type": "application/json", "content-length": "2", "x-trace": "1", "x-secret-hop": "s" });
  assert.deepEqual(forwardHeaders({ ...incoming, connection: "keep-alive, X-Secret-Hop" }, { "X-Trace": "2", Authorization: undefined }, new Set(["content-length"])), { "content-type": "application/json", "x-trace": "2" });
});

test("proxyHttp gives up an upstream that sends no head in time, or a not-relayed answer it never ends, and closes its connection; a relayed answer is not cut off later", async () => {
  const closed: string[] = [];
  const up = createServer((req, res) => {
    res.on("close", () => closed.push(req.url!));
    if (req.url === "/silent") return;
    if (req.url === "/busy-forever") return void res.writeHead(503, { "content-type": "text/plain" }).write("busy, and still saying so");
    res.writeHead(200, { "content-type": "text/plain" }).write("first ");
    setTimeout(() => res.end("last"), 300);
  });
  await new Promise<void>((r) => up.listen(0, "127.0.0.1", r));
  const upstream = `127.0.0.1:${(up.address() as AddressInfo).port}`;
  const outcomes: ProxyOutcome[] = [];
  const relay = createServer((req, res) => {
    void proxyHttp(req.method!, req.headers, req, res, { url: new URL(`http://${upstream}${req.url}`), headTimeoutMs: 150, notRelayed: (s) => s === 503 }).then((o) => {
      outcomes.push(o);
      if (!o.answered) res.writeHead(599).end();
    });
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  try {
    for (const path of ["/silent", "/busy-forever"]) {
      const t0 = performance.now();
      const res = await fetch(`${base}${path}`, { method: "POST", body: "b" });
      assert.equal(res.status, 599, path);
      assert.ok(performance.now() - t0 < 2000, path);
      assert.deepEqual(outcomes.at(-1), { status: 0, answered: false, error: `no answer from ${upstream} in 150 ms`, bytesOut: 0 }, path);
      for (let i = 0; i < 100 && !closed.includes(path); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(closed.includes(path), `${path}: the upstream's connection was closed`);
    }
    const slow = await fetch(`${base}/slow`, { method: "POST", body: "b" });
    assert.equal(await slow.text(), "first last");
    assert.equal(outcomes.at(-1)!.answered, true);
  } finally {
    relay.closeAllConnections();
    up.closeAllConnections();
    await Promise.all([new Promise((r) => relay.close(r)), new Promise((r) => up.close(r))]);
  }
});

test("proxyHttp for a client that left before the relay began settles at once and sends nothing upstream", async () => {
  let upstreamRequests = 0;
  const up = createServer((_req, res) => {
    upstreamRequests++;
    res.writeHead(200).end(Buffer.alloc(1024 * 1024));
  });
  await new Promise<void>((r) => up.listen(0, "127.0.0.1", r));
  const outcomes: ProxyOutcome[] = [];
  const relay = createServer((req, res) => {
    // As the session route after its key was checked: the client is gone by then.
    setTimeout(() => void proxyHttp(req.method!, req.headers, req, res, { url: new URL(`http://127.0.0.1:${(up.address() as AddressInfo).port}/big`) }).then((o) => outcomes.push(o)), 200);
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
  try {
    const req = request(`http://127.0.0.1:${(relay.address() as AddressInfo).port}/big`);
    req.on("error", () => {});
    req.end();
    setTimeout(() => req.destroy(), 50);
    for (let i = 0; i < 200 && outcomes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(outcomes[0], { status: 0, answered: false, bytesOut: 0, error: "client went away" });
    assert.equal(upstreamRequests, 0);
  } finally {
    relay.closeAllConnections();
    up.closeAllConnections();
    await Promise.all([new Promise((r) => relay.close(r)), new Promise((r) => up.close(r))]);
  }
});
