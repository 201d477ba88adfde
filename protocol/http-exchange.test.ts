// http-exchange against a real HTTP server on 127.0.0.1: bodies read into memory or
// streamed, size limits, aborts (in flight and still queued), a connection dropped mid-body.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Agent } from "undici";
import { ByteBudget, exchange, ExchangeBudgetError, ExchangeTooLargeError } from "./http-exchange.ts";

const big = Buffer.alloc(5 * 1024 * 1024, 0x5a);

async function withServer(fn: (origin: string, agent: Agent) => Promise<void>, connections = 4): Promise<void> {
  const server: Server = createServer((req, res) => {
    if (req.url === "/small") return res.end(JSON.stringify({ ok: true, method: req.method }));
    if (req.url === "/echo") {
      const parts: Buffer[] = [];
      req.on("data", (d: Buffer) => parts.push(d));
      req.on("end", () => res.writeHead(201, { "content-type": "text/plain" }).end(Buffer.concat(parts)));
      return;
    }
    if (req.url === "/big") return res.writeHead(200, { "content-type": "video/mp4", "content-length": big.length }).end(big);
    if (req.url === "/chunked-big") {
      res.writeHead(200);
      for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1000));
      return res.end();
    }
    if (req.url === "/hang") return; // never answers
    if (req.url === "/drop") {
      res.writeHead(200, { "content-length": "1000" });
      res.write("partial");
      setTimeout(() => res.socket?.destroy(), 20);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const agent = new Agent({ connections });
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, agent);
  } finally {
    await agent.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const req = (origin: string, path: string, extra: Partial<Parameters<typeof exchange>[1]> = {}) => ({ origin, path, method: "GET" as const, timeoutMs: 5000, maxBytes: 1 << 20, ...extra });

test("answers are read into memory; a POST body goes through", () =>
  withServer(async (origin, agent) => {
    const r = await exchange(agent, req(origin, "/small")).response;
    assert.equal(r.status, 200);
    assert.ok("body" in r);
    assert.deepEqual(JSON.parse(r.body.toString()), { ok: true, method: "GET" });
    const e = await exchange(agent, req(origin, "/echo", { method: "POST", body: "hello", headers: { "content-type": "text/plain" } })).response;
    assert.equal(e.status, 201);
    assert.equal("body" in e && e.body.toString(), "hello");
  }));

test("maxBytes holds for declared and chunked answers", () =>
  withServer(async (origin, agent) => {
    await assert.rejects(exchange(agent, req(origin, "/big")).response, ExchangeTooLargeError);
    await assert.rejects(exchange(agent, req(origin, "/chunked-big", { maxBytes: 5000 })).response, ExchangeTooLargeError);
  }));

test("streamIf streams a large answer intact", () =>
  withServer(async (origin, agent) => {
    const r = await exchange(agent, req(origin, "/big", { maxBytes: 64 << 20, streamIf: (s, h) => s === 200 && Number(h["content-length"]) > 1024 })).response;
    assert.ok("stream" in r);
    const parts: Buffer[] = [];
    for await (const c of r.stream) {
      parts.push(c as Buffer);
      await new Promise((resolve) => setImmediate(resolve)); // a slow reader: backpressure
    }
    assert.deepEqual(Buffer.concat(parts), big);
  }));

test("abort fails a hanging exchange, and one still queued for a connection, at once", () =>
  withServer(async (origin, agent) => {
    const hanging = exchange(agent, req(origin, "/hang"));
    const queued = exchange(agent, req(origin, "/small")); // the only connection is taken
    await new Promise((resolve) => setTimeout(resolve, 50));
    const t0 = performance.now();
    queued.abort(new Error("client went away"));
    await assert.rejects(queued.response, /client went away/);
    hanging.abort(new Error("timed out after 50 ms"));
    await assert.rejects(hanging.response, /timed out after 50 ms/);
    assert.ok(performance.now() - t0 < 500);
    // The connection is usable again.
    assert.equal((await exchange(agent, req(origin, "/small")).response).status, 200);
  }, 1));

test("a connection dropped mid-body rejects", () =>
  withServer(async (origin, agent) => {
    await assert.rejects(exchange(agent, req(origin, "/drop")).response);
  }));

test("spillAbove turns a growing answer without a length into a stream, bytes read so far first", () =>
  withServer(async (origin, agent) => {
    const r = await exchange(agent, req(origin, "/chunked-big", { spillAbove: 2500 })).response;
    assert.ok("stream" in r, "spilled past 2500 bytes");
    let n = 0;
    for await (const c of r.stream) n += (c as Buffer).length;
    assert.equal(n, 10_000);
    const small = await exchange(agent, req(origin, "/small", { spillAbove: 2500 })).response;
    assert.ok("body" in small);
  }));

test("a budget bounds the answers held in memory together, until each is released", () =>
  withServer(async (origin, agent) => {
    // /chunked-big is 10,000 bytes: two fit a 25,000-byte budget, the third does not.
    const budget = new ByteBudget(25_000);
    const get = () => exchange(agent, { origin, path: "/chunked-big", method: "GET", timeoutMs: 5000, maxBytes: 1e6, budget });
    const held = [get(), get()];
    for (const ex of held) assert.equal((await ex.response as { body: Buffer }).body.length, 10_000);
    assert.equal(budget.inUse, 20_000);
    const third = get();
    await assert.rejects(third.response, ExchangeBudgetError);
    assert.equal(budget.inUse, 20_000, "a failed exchange gave back what it took (5,000 of its chunks)");
    third.release();
    assert.equal(budget.inUse, 20_000);
    held[0]!.release();
    held[0]!.release(); // once only
    assert.equal(budget.inUse, 10_000);
    const fourth = get();
    assert.equal((await fourth.response as { body: Buffer }).body.length, 10_000);
    fourth.release();
    held[1]!.release();
    assert.equal(budget.inUse, 0);
    // A streamed answer holds nothing of the budget: its reader takes it with backpressure.
    const streamed = exchange(agent, { origin, path: "/big", method: "GET", timeoutMs: 5000, maxBytes: 1e9, budget, streamIf: () => true });
    const r = await streamed.response;
    assert.ok("stream" in r);
    let n = 0;
    for await (const c of r.stream) n += (c as Buffer).length;
    assert.equal(n, big.length);
    assert.equal(budget.inUse, 0);
    // A declared length is taken at once: /big (5 MiB) does not fit a 1 MiB budget, before any byte.
    const small = new ByteBudget(1 << 20);
    await assert.rejects(exchange(agent, { origin, path: "/big", method: "GET", timeoutMs: 5000, maxBytes: 1e9, budget: small }).response, ExchangeBudgetError);
    assert.equal(small.inUse, 0);
    // An answer that spills into a stream gives back what it took while read into memory.
    const spill = exchange(agent, { origin, path: "/chunked-big", method: "GET", timeoutMs: 5000, maxBytes: 1e6, budget, spillAbove: 2500 });
    const s = await spill.response;
    assert.ok("stream" in s);
    assert.equal(budget.inUse, 0, "the bytes before the spill were given back");
    n = 0;
    for await (const c of s.stream) n += (c as Buffer).length;
    assert.equal(n, 10_000);
    spill.release();
    assert.equal(budget.inUse, 0);
  }));
