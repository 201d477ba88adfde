// Trickle server conformance with raw node:http requests (what a client library would hide):
// statuses, headers, blocking behaviour, streaming, keepalives. Real HTTP on 127.0.0.1.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import { startTrickle, within, wait, type TestTrickle, type TestTransport } from "./testing.ts";
import { TrickleServer } from "./server.ts";

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function raw(
  method: string,
  url: string,
  opts: { headers?: Record<string, string>; body?: string; agent?: http.Agent } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: opts.headers ?? {}, agent: opts.agent ?? false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** A GET whose response (headers) we can observe arriving, with the body chunks in order. */
function openGet(url: string) {
  const chunks: Array<{ at: number; data: string }> = [];
  let req!: http.ClientRequest;
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req = http.request(url, { agent: false }, resolve);
    req.on("error", reject);
    req.end();
  });
  const body = response.then(
    (res) =>
      new Promise<string>((resolve, reject) => {
        res.on("data", (c: Buffer) => chunks.push({ at: Date.now(), data: c.toString() }));
        res.on("end", () => resolve(chunks.map((c) => c.data).join("")));
        res.on("error", reject);
      }),
  );
  let arrived = false;
  void response.then(() => (arrived = true), () => {});
  return { response, body, chunks, req, get arrived() { return arrived; } };
}

/** A streaming POST: headers flushed immediately (a preconnect), body written on demand. */
function openPost(url: string, headers: Record<string, string> = {}) {
  const req = http.request(url, { method: "POST", headers: { "Content-Type": "video/MP2T", ...headers }, agent: false });
  let continues = 0;
  req.on("continue", () => continues++);
  const response = new Promise<RawResponse>((resolve, reject) => {
    req.on("response", (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }));
    });
    req.on("error", reject);
  });
  response.catch(() => {}); // tests that abandon the POST destroy it
  req.flushHeaders();
  return {
    req,
    response,
    write: (s: string) => new Promise<void>((r) => req.write(s, () => r())),
    end: (s?: string) => {
      req.end(s);
      return response;
    },
    get continues() {
      return continues;
    },
  };
}

async function publish(t: TestTrickle, channel: string, seq: number, body: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return raw("POST", `${t.base}/${channel}/${seq}`, { body, headers: { "Content-Type": "video/MP2T", ...headers } });
}

for (const transport of ["node", "fastify"] as TestTransport[]) {
  describe(`trickle server over ${transport}`, () => {
    let t: TestTrickle;
    before(async () => {
      t = await startTrickle(transport, { keepaliveIntervalMs: 100 });
    });
    after(async () => {
      await t.close();
    });

    test("create with Expect-Content, publish, subscribe round trip", async () => {
      const c = await raw("POST", `${t.base}/rt`, { headers: { "Expect-Content": "video/MP2T" } });
      assert.equal(c.status, 200);
      assert.equal(t.server.getChannel("rt")?.mimeType, "video/MP2T");
      const p = await publish(t, "rt", 0, "segment zero");
      assert.equal(p.status, 200);
      assert.equal(p.headers["lp-trickle-seq"], "0");
      const g = await raw("GET", `${t.base}/rt/0`);
      assert.equal(g.status, 200);
      assert.equal(g.body, "segment zero");
      assert.equal(g.headers["lp-trickle-seq"], "0");
      assert.equal(g.headers["content-type"], "video/MP2T");
      assert.equal(g.headers["lp-trickle-latest"], "1", "Latest is sent when it differs from the served seq");
      const n = await raw("GET", `${t.base}/rt/next`);
      assert.equal(n.status, 200);
      assert.equal(n.body, "1");
      assert.equal(n.headers["lp-trickle-latest"], "1");
    });

    test("unknown channel: 404 with Connection: close on every route", async () => {
      // a keep-alive client, so that `Connection: close` comes from the server's decision
      const agent = new http.Agent({ keepAlive: true });
      after(() => agent.destroy());
      for (const [method, path] of [
        ["GET", "nope/0"],
        ["GET", "nope/-1"],
        ["GET", "nope/next"],
        ["POST", "nope/0"],
        ["DELETE", "nope/0"],
        ["DELETE", "nope"],
      ] as const) {
        const r = await raw(method, `${t.base}/${path}`, method === "POST" ? { body: "x", agent } : { agent });
        assert.equal(r.status, 404, `${method} ${path}`);
        assert.equal(r.headers["connection"], "close", `${method} ${path} sends Connection: close`);
      }
      assert.equal(t.server.hasChannel("nope"), false, "publishing does not create channels (go-livepeer without Autocreate)");
    });

    test("publish seq -1 writes at the server's next index", async () => {
      t.server.createChannel("m1");
      assert.equal((await publish(t, "m1", -1, "a")).headers["lp-trickle-seq"], "0");
      assert.equal((await publish(t, "m1", -1, "b")).headers["lp-trickle-seq"], "1");
      assert.equal((await raw("GET", `${t.base}/m1/1`)).body, "b");
    });

    test("subscribe -1 blocks until the next segment starts", async () => {
      t.server.createChannel("live");
      await publish(t, "live", 0, "old");
      const g = openGet(`${t.base}/live/-1`);
      await wait(300);
      assert.equal(g.arrived, false, "no response before the segment starts");
      const p = openPost(`${t.base}/live/1`);
      await wait(100);
      assert.equal(g.arrived, false, "a preconnected POST without bytes does not start the segment");
      await p.write("new ");
      const res = await within(g.response, 2000, "GET -1 response");
      assert.equal(res.headers["lp-trickle-seq"], "1");
      await p.end("data");
      assert.equal(await g.body, "new data");
    });

    test("subscribe -2 gets the segment being written now, bytes so far then live", async () => {
      t.server.createChannel("cur");
      await publish(t, "cur", 0, "zero");
      const p = openPost(`${t.base}/cur/1`);
      await p.write("first-half|");
      await wait(50);
      const g = openGet(`${t.base}/cur/-2`);
      const res = await within(g.response, 2000, "GET -2");
      assert.equal(res.headers["lp-trickle-seq"], "1");
      await wait(50);
      await p.write("second-half");
      await p.end();
      assert.equal(await g.body, "first-half|second-half");
    });

    test("a subscriber joining mid-segment gets the bytes so far, then the rest live, in order", async () => {
      t.server.createChannel("mid");
      const p = openPost(`${t.base}/mid/0`);
      const expected: string[] = [];
      for (let i = 0; i < 50; i++) {
        const s = `<${i}>`.padEnd(100, ".");
        expected.push(s);
        await p.write(s);
      }
      await wait(50);
      const g = openGet(`${t.base}/mid/0`);
      await within(g.response, 2000, "mid-segment GET");
      for (let i = 50; i < 100; i++) {
        const s = `<${i}>`.padEnd(100, ".");
        expected.push(s);
        await p.write(s);
        if (i % 10 === 0) await wait(10);
      }
      await p.end();
      const body = await g.body;
      assert.equal(body.length, expected.join("").length, "complete");
      assert.equal(body, expected.join(""), "ordered and identical");
      assert.ok(g.chunks.length >= 2, "delivered in several writes (backlog then live)");
    });

    test("bytes reach a subscriber before the publisher finishes the segment", async () => {
      t.server.createChannel("flow");
      const g = openGet(`${t.base}/flow/0`);
      const p = openPost(`${t.base}/flow/0`);
      await p.write("early bytes");
      const res = await within(g.response, 2000, "GET headers");
      const first = await within(
        new Promise<string>((r) => res.once("data", (c: Buffer) => r(c.toString()))),
        2000,
        "first chunk before POST end",
      );
      assert.equal(first, "early bytes");
      await p.end(" late");
    });

    test("470 with Lp-Trickle-Latest for a seq out of the 5-ring and for one too far ahead", async () => {
      t.server.createChannel("ring");
      for (let i = 0; i < 7; i++) await publish(t, "ring", i, `s${i}`);
      const gone = await raw("GET", `${t.base}/ring/1`);
      assert.equal(gone.status, 470);
      assert.equal(gone.headers["lp-trickle-latest"], "7");
      assert.equal(gone.headers["lp-trickle-seq"], "1");
      const kept = await raw("GET", `${t.base}/ring/2`);
      assert.equal(kept.status, 200, "the last 5 segments are kept");
      assert.equal(kept.body, "s2");
      const ahead = await raw("GET", `${t.base}/ring/9`);
      assert.equal(ahead.status, 470);
      assert.equal(ahead.headers["lp-trickle-latest"], "7");
      // The write head itself is not "ahead": it blocks until written.
      const head = openGet(`${t.base}/ring/7`);
      await wait(150);
      assert.equal(head.arrived, false);
      await publish(t, "ring", 7, "s7");
      assert.equal(await within(head.body, 2000, "head GET"), "s7");
    });

    test("channel DELETE ends waiting subscribers with Lp-Trickle-Closed and releases preconnected publishers", async () => {
      t.server.createChannel("del");
      await publish(t, "del", 0, "x");
      const g = openGet(`${t.base}/del/-1`);
      const p = openPost(`${t.base}/del/1`);
      await wait(100);
      const d = await raw("DELETE", `${t.base}/del`);
      assert.equal(d.status, 200);
      const res = await within(g.response, 2000, "GET after DELETE");
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers["lp-trickle-closed"], "terminated");
      assert.equal(await g.body, "");
      const pr = await within(p.response, 2000, "preconnected POST after DELETE");
      assert.equal(pr.status, 200);
      assert.equal(pr.headers["lp-trickle-closed"], "terminated");
      assert.equal((await raw("GET", `${t.base}/del/0`)).status, 404, "the channel is gone");
    });

    test("segment DELETE closes one open segment; unknown segment is 400", async () => {
      t.server.createChannel("sd");
      const p = openPost(`${t.base}/sd/0`);
      await p.write("partial");
      const g = openGet(`${t.base}/sd/0`);
      await within(g.response, 2000, "GET");
      assert.equal((await raw("DELETE", `${t.base}/sd/0`)).status, 200);
      assert.equal(await within(g.body, 2000, "subscriber ends"), "partial");
      assert.equal((await raw("DELETE", `${t.base}/sd/3`)).status, 400);
      p.req.destroy();
    });

    test("Lp-Trickle-Reset closes older open segments", async () => {
      t.server.createChannel("rst");
      for (let i = 0; i < 3; i++) await publish(t, "rst", i, `s${i}`);
      const stale = openPost(`${t.base}/rst/3`);
      await stale.write("stale publisher ");
      const g = openGet(`${t.base}/rst/3`);
      await within(g.response, 2000, "GET 3");
      const r = await publish(t, "rst", 0, "restart", { "Lp-Trickle-Reset": "1" });
      assert.equal(r.status, 200);
      assert.equal(await within(g.body, 2000, "stale segment's subscriber released"), "stale publisher ");
      assert.equal((await raw("GET", `${t.base}/rst/0`)).body, "restart");
      const n = await raw("GET", `${t.base}/rst/next`);
      assert.equal(n.body, "1", "the write head follows the restarted publisher");
      stale.req.destroy();
    });

    test("100 Continue keepalives while a preconnected POST has sent nothing", async () => {
      t.server.createChannel("ka");
      const p = openPost(`${t.base}/ka/0`);
      await wait(450);
      assert.ok(p.continues >= 2, `expected keepalives, got ${p.continues}`);
      await p.write("body");
      const seen = p.continues;
      await wait(300);
      assert.equal(p.continues, seen, "no keepalive once bytes flow");
      const r = await p.end();
      assert.equal(r.status, 200);
      assert.equal((await raw("GET", `${t.base}/ka/0`)).body, "body");
    });

    test("bad seq and methods are 4xx, not crashes", async () => {
      t.server.createChannel("bad");
      assert.equal((await raw("GET", `${t.base}/bad/abc`)).status, 400);
      assert.equal((await raw("GET", `${t.base}/bad/-7`)).status, 400);
      assert.equal((await raw("POST", `${t.base}/bad/x`, { body: "x" })).status, 400);
    });
  });
}

describe("trickle server behaviour (node transport)", () => {
  test("idle channels are swept", async () => {
    const t = await startTrickle("node", { idleTimeoutMs: 200, sweepIntervalMs: 50 });
    try {
      const closed: Array<[string, string]> = [];
      t.server.on("channel-closed", (name, reason) => closed.push([name, reason]));
      t.server.createChannel("idle");
      t.server.createChannel("busy");
      const g = openGet(`${t.base}/idle/-1`);
      for (let i = 0; i < 6; i++) {
        await publish(t, "busy", i, "x");
        await wait(80);
      }
      assert.equal(t.server.hasChannel("idle"), false, "idle channel removed");
      assert.equal(t.server.hasChannel("busy"), true, "active channel kept");
      assert.deepEqual(closed, [["idle", "idle"]]);
      const res = await within(g.response, 2000, "waiting subscriber released");
      assert.equal(res.headers["lp-trickle-closed"], "terminated");
      assert.equal((await raw("GET", `${t.base}/idle/0`)).status, 404);
    } finally {
      await t.close();
    }
  });

  test("autocreate option creates a channel on first publish", async () => {
    const t = await startTrickle("node", { autocreate: true });
    try {
      assert.equal((await publish(t, "auto", 0, "hi")).status, 200);
      assert.equal(t.server.getChannel("auto")?.mimeType, "video/MP2T");
    } finally {
      await t.close();
    }
  });

  test("httpCreate: false refuses POST create for unknown channels", async () => {
    const t = await startTrickle("node", { httpCreate: false });
    try {
      assert.equal((await raw("POST", `${t.base}/x`, { headers: { "Expect-Content": "a/b" } })).status, 404);
      t.server.createChannel("x");
      assert.equal((await raw("POST", `${t.base}/x`, { headers: { "Expect-Content": "a/b" } })).status, 200);
    } finally {
      await t.close();
    }
  });

  test("in-process publish is served over HTTP, HTTP publish reaches in-process subscribers", async () => {
    const t = await startTrickle("node");
    try {
      const events: string[] = [];
      t.server.on("channel-created", (n) => events.push(`created:${n}`));
      t.server.on("segment-started", (n, s) => events.push(`start:${n}:${s}`));
      t.server.createChannel("in", "video/MP2T");
      t.server.createChannel("out", "video/MP2T");

      // orchestrator side: read the input channel in-process, write the -out channel in-process
      const localSub = t.server.subscribe("in", { start: -1 });
      const outPub = t.server.localPublisher("out");
      const pipeline = (async () => {
        for await (const seg of localSub) {
          const w = outPub.next();
          for await (const chunk of seg.reader) w.write(Buffer.from(chunk.toString().toUpperCase()));
          w.end();
        }
        return localSub.endReason;
      })();

      const outGet = openGet(`${t.base}/out/-1`);
      await wait(50);
      const p = openPost(`${t.base}/in/0`);
      await p.write("abc");
      // the transformed bytes are visible over HTTP before the input segment ends
      const res = await within(outGet.response, 2000, "-out GET");
      assert.equal(res.headers["lp-trickle-seq"], "0");
      await p.end("def");
      assert.equal(await within(outGet.body, 2000, "-out body"), "ABCDEF");

      const seq = await t.server.writeSegment("in", "second");
      assert.equal(seq, 1);
      await wait(50);
      assert.equal((await raw("GET", `${t.base}/out/1`)).body, "SECOND");

      t.server.deleteChannel("in");
      assert.equal(await within(pipeline, 2000, "local subscriber ends"), "closed");
      assert.ok(events.includes("created:in") && events.includes("start:in:0") && events.includes("start:out:0"), events.join());
    } finally {
      await t.close();
    }
  });

  test("in-process subscriber behind the ring jumps to the live edge", async () => {
    const s = new TrickleServer();
    s.createChannel("lag");
    const pub = s.localPublisher("lag");
    for (let i = 0; i < 8; i++) pub.writeJson({ i });
    const sub = s.subscribe("lag", { start: 0 });
    const next = sub.next();
    await wait(30);
    pub.writeJson({ i: 8 });
    const seg = await within(next, 1000, "local next");
    assert.equal(seg?.seq, 8);
    assert.deepEqual(await seg?.json(), { i: 8 });
    assert.equal(sub.skipped, 8);
    sub.close();
    assert.equal(await sub.next(), null);
    s.stop();
  });

  test("in-process subscriber at -2 joins the current segment from byte 0", async () => {
    const s = new TrickleServer();
    s.createChannel("c");
    const w = s.publish("c");
    w.write("part1,");
    const sub = s.subscribe("c", { start: -2 });
    const seg = await within(sub.next(), 1000, "local -2");
    assert.equal(seg?.seq, 0);
    setTimeout(() => w.end("part2"), 20);
    assert.equal(await seg?.text(), "part1,part2");
    s.stop();
  });
});

describe("trickle server over HTTP/2 (TLS, as the orchestrator runs it)", () => {
  test("streamed publish and subscribe on h2 streams; 404 without connection headers", async () => {
    const t = await startTrickle("https", { keepaliveIntervalMs: 100 });
    const session = http2.connect(t.origin, { rejectUnauthorized: false });
    session.on("error", () => {});
    try {
      t.server.createChannel("h2", "video/MP2T");
      const get = session.request({ ":method": "GET", ":path": "/ai/trickle/h2/-1" });
      get.end();
      const headers = new Promise<http2.IncomingHttpHeaders>((r) => get.once("response", r));
      const chunks: string[] = [];
      get.on("data", (c: Buffer) => chunks.push(c.toString()));
      const ended = new Promise<void>((r) => get.once("end", r));

      const post = session.request({ ":method": "POST", ":path": "/ai/trickle/h2/0", "content-type": "video/MP2T" });
      let postInfo = 0;
      post.on("headers", () => postInfo++); // 1xx keepalives arrive as informational headers
      await wait(350);
      assert.ok(postInfo >= 2, `100 Continue keepalives over h2 (got ${postInfo})`);
      post.write("over h2 ");
      const h = await within(headers, 2000, "h2 GET headers");
      assert.equal(h[":status"], 200);
      assert.equal(h["lp-trickle-seq"], "0");
      await wait(50);
      assert.deepEqual(chunks, ["over h2 "], "bytes before the POST ends");
      post.end("done");
      const postRes = await within(new Promise<http2.IncomingHttpHeaders>((r) => post.once("response", r)), 2000, "h2 POST");
      assert.equal(postRes[":status"], 200);
      post.resume();
      await within(ended, 2000, "h2 GET end");
      assert.equal(chunks.join(""), "over h2 done");

      const miss = session.request({ ":method": "GET", ":path": "/ai/trickle/none/0" });
      miss.end();
      miss.resume();
      const mh = await within(new Promise<http2.IncomingHttpHeaders>((r) => miss.once("response", r)), 2000, "h2 404");
      assert.equal(mh[":status"], 404);
    } finally {
      session.destroy();
      await t.close();
    }
  });
});
