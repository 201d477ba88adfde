// http-relay between a real client, a relaying server and an upstream, all on 127.0.0.1: the
// answer relayed with its end-to-end headers, a streamed answer's first bytes before its end, an
// answer the caller does not want relayed, an unreachable upstream, and a client that leaves.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Agent } from "undici";
import type { ProxyOutcome, ProxyTarget } from "../core/reverse-proxy.ts";
import { relayBuffered } from "./http-relay.ts";

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** An upstream, and a relay in front of it whose outcomes the test reads. */
async function withRelay(
  upstream: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void,
  fn: (relay: string, outcomes: ProxyOutcome[], upstreamUrl: string) => Promise<void>,
  target: Partial<ProxyTarget> & { unreachable?: boolean; /** Wait this long before relaying (as a payment being signed). */ delayMs?: number } = {},
): Promise<void> {
  const up = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => upstream(req, Buffer.concat(parts), res));
  });
  const upUrl = await listen(up);
  if (target.unreachable) await close(up);
  const agent = new Agent({ connections: 4 });
  const outcomes: ProxyOutcome[] = [];
  const relay = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", async () => {
      if (target.delayMs) await new Promise((r) => setTimeout(r, target.delayMs));
      const out = await relayBuffered(agent, req.method!, req.headers, Buffer.concat(parts), res, { url: new URL(`${upUrl}${req.url}`), ...target });
      outcomes.push(out);
      if (!out.answered && !res.destroyed) res.writeHead(599, { "x-outcome": JSON.stringify(out) }).end();
    });
  });
  const relayUrl = await listen(relay);
  try {
    await fn(relayUrl, outcomes, upUrl);
  } finally {
    await agent.destroy();
    await close(relay);
    if (!target.unreachable) await close(up);
  }
}

test("the answer is relayed with its end-to-end headers; the request's body and headers reach the upstream", () =>
  withRelay(
    (req, body, res) =>
      res.writeHead(201, { "content-type": "application/json", "x-runner": "r1", connection: "keep-alive" }).end(JSON.stringify({ got: body.toString(), auth: req.headers.authorization ?? null, extra: req.headers["x-extra"], length: req.headers["content-length"] })),
    async (relay, outcomes) => {
      const res = await fetch(`${relay}/v1/json?q=1`, { method: "POST", headers: { authorization: "Bearer secret", "content-type": "application/json" }, body: '{"a":1}' });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get("x-runner"), "r1");
      assert.deepEqual(await res.json(), { got: '{"a":1}', auth: null, extra: "yes", length: "7" });
      assert.equal(outcomes[0]!.answered, true);
      assert.equal(outcomes[0]!.status, 201);
      assert.ok(outcomes[0]!.bytesOut > 0);
    },
    { headers: { authorization: undefined, "x-extra": "yes" } },
  ));

test("a streamed answer's first event reaches the client before the upstream ends it", () => {
  let finish!: () => void;
  const ended = new Promise<void>((resolve) => (finish = resolve));
  return withRelay(
    (_req, _body, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: one\n\n");
      void ended.then(() => res.end("data: two\n\n"));
    },
    async (relay) => {
      const res = await fetch(`${relay}/events`);
      const reader = res.body!.getReader();
      const first = await reader.read();
      assert.match(Buffer.from(first.value!).toString(), /data: one/);
      finish();
      let rest = "";
      for (let r = await reader.read(); !r.done; r = await reader.read()) rest += Buffer.from(r.value).toString();
      assert.match(rest, /data: two/);
    },
  );
});

test("an answer the caller does not relay leaves the client's response untouched and gives its body as the reason", () =>
  withRelay(
    (_req, _body, res) => res.writeHead(503, { "content-type": "text/plain" }).end("runner busy"),
    async (relay, outcomes) => {
      const res = await fetch(`${relay}/x`, { method: "POST", body: "b" });
      assert.equal(res.status, 599);
      assert.deepEqual(outcomes[0], { status: 503, answered: false, error: "runner busy", bytesOut: 0 });
    },
    { notRelayed: (s) => s === 503 },
  ));

test("an unreachable upstream is an outcome with status 0, not a thrown error", () =>
  withRelay(
    () => {},
    async (relay, outcomes) => {
      const res = await fetch(`${relay}/x`, { method: "POST", body: "b" });
      assert.equal(res.status, 599);
      assert.equal(outcomes[0]!.status, 0);
      assert.equal(outcomes[0]!.answered, false);
      assert.match(outcomes[0]!.error ?? "", /ECONNREFUSED/);
    },
    { unreachable: true },
  ));

test("a client that leaves mid-answer ends the upstream exchange", () => {
  let upstreamClosed!: () => void;
  const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
  return withRelay(
    (_req, _body, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const t = setInterval(() => res.write("data: tick\n\n"), 10);
      res.on("close", () => {
        clearInterval(t);
        upstreamClosed();
      });
    },
    async (relay, outcomes) => {
      await new Promise<void>((resolve, reject) => {
        const req = request(`${relay}/events`, (res) => {
          res.once("data", () => {
            req.destroy();
            resolve();
          });
        });
        req.on("error", () => {});
        req.once("error", reject);
        req.end();
      });
      await closed; // the relay dropped the upstream exchange
      for (let i = 0; i < 100 && outcomes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(outcomes[0]!.answered, true);
      assert.equal(outcomes[0]!.error, "client went away");
    },
  );
});

test("a client that left before the relay began: the relay settles at once and sends nothing upstream", () => {
  let upstreamRequests = 0;
  return withRelay(
    (_req, _body, res) => {
      upstreamRequests++;
      res.writeHead(200, { "content-type": "application/octet-stream" }).end(Buffer.alloc(1024 * 1024));
    },
    async (relay, outcomes) => {
      const req = request(`${relay}/big`, { method: "POST" });
      req.on("error", () => {});
      req.end("x");
      setTimeout(() => req.destroy(), 50); // gone while the relay waits
      for (let i = 0; i < 200 && outcomes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(outcomes[0], { status: 0, answered: false, bytesOut: 0, error: "client went away" });
      assert.equal(upstreamRequests, 0);
    },
    { delayMs: 200 },
  );
});

test("an upstream that sends no head in time, or a not-relayed answer it never ends, is given up (and its connection closed); a relayed answer is not cut off later", () => {
  const closed: string[] = [];
  return withRelay(
    (req, _body, res) => {
      res.on("close", () => closed.push(req.url!));
      if (req.url === "/silent") return;
      if (req.url === "/busy-forever") {
        res.writeHead(503, { "content-type": "text/plain" });
        res.write("busy, and still saying so");
        return;
      }
      // A head at once, then a gap longer than the timeout before the end.
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first ");
      setTimeout(() => res.end("last"), 300);
    },
    async (relay, outcomes, upstream) => {
      const given = { status: 0, answered: false, error: `no answer from ${new URL(upstream).host} in 150 ms`, bytesOut: 0 };
      for (const path of ["/silent", "/busy-forever"]) {
        const t0 = performance.now();
        const res = await fetch(`${relay}${path}`, { method: "POST", body: "b" });
        assert.equal(res.status, 599, path);
        assert.ok(performance.now() - t0 < 2000, path);
        assert.deepEqual(outcomes.at(-1), given, path);
        for (let i = 0; i < 100 && !closed.includes(path); i++) await new Promise((r) => setTimeout(r, 10));
        assert.ok(closed.includes(path), `${path}: the upstream's connection was closed`);
      }
      const slow = await fetch(`${relay}/slow`, { method: "POST", body: "b" });
      assert.equal(slow.status, 200);
      assert.equal(await slow.text(), "first last");
      assert.equal(outcomes.at(-1)!.answered, true);
    },
    { headTimeoutMs: 150, notRelayed: (s) => s === 503 },
  );
});
