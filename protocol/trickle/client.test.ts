// Trickle clients (publisher, subscriber, JSON helpers) against our server over real HTTP on
// 127.0.0.1: plain HTTP through fastify, and HTTPS/HTTP2(allowHTTP1) with a self-signed cert.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { startTrickle, within, wait, waitFor, collect, type TestTrickle } from "./testing.ts";
import { TricklePublisher } from "./publisher.ts";
import { TrickleSubscriber, type TrickleSegment } from "./subscriber.ts";
import { MAX_JSON_SEGMENT_BYTES, TrickleJsonPublisher, TrickleJsonSubscriber } from "./json.ts";
import { TrickleError } from "./errors.ts";

/** A port with nothing listening on it. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("trickle clients over HTTP (fastify)", () => {
  let t: TestTrickle;
  before(async () => {
    t = await startTrickle("fastify", { keepaliveIntervalMs: 100 });
  });
  after(async () => {
    await t.close();
  });

  test("publisher → subscriber round trip over several segments, with preconnect", async () => {
    t.server.createChannel("rt", "video/MP2T");
    const pub = new TricklePublisher(`${t.base}/rt`);
    const sub = new TrickleSubscriber(`${t.base}/rt`, { start: -1 });
    const got: string[] = [];
    const reader = (async () => {
      for await (const seg of sub) {
        got.push(`${seg.seq}=${(await seg.buffer()).toString()}`);
        if (got.length === 4) break;
      }
    })();
    await wait(50);
    for (let i = 0; i < 4; i++) {
      const w = await pub.next();
      assert.equal(w.seq, i);
      // publisher preconnect: the POST for i+1 reaches the server while i is open, before any
      // byte of i is written (polled: on a loaded machine the request takes a moment to arrive)
      await waitFor(() => t.server.getChannel("rt")?.peek(i + 1)?.fresh === true, 3000, `segment ${i + 1} preconnected while ${i} is open`);
      await w.write(`seg${i}-a,`);
      await w.write(`seg${i}-b`);
      await w.end();
    }
    await within(reader, 5000, "subscriber");
    assert.deepEqual(got, ["0=seg0-a,seg0-b", "1=seg1-a,seg1-b", "2=seg2-a,seg2-b", "3=seg3-a,seg3-b"]);
    assert.ok(sub.ended, "breaking out of the iteration closes the subscriber");
    await pub.close();
    assert.equal(t.server.hasChannel("rt"), false, "close() deletes the channel");
  });

  test("bytes reach the subscriber while the publisher is still writing the segment", async () => {
    t.server.createChannel("flow");
    const pub = new TricklePublisher(`${t.base}/flow`);
    const sub = new TrickleSubscriber(`${t.base}/flow`, { start: 0 });
    const segP = sub.next();
    const w = await pub.next();
    await w.write("first chunk;");
    const seg = (await within(segP, 2000, "segment headers"))!;
    const it = seg.body[Symbol.asyncIterator]();
    const first = await within(it.next(), 2000, "first chunk");
    assert.equal(Buffer.from(first.value as Buffer).toString(), "first chunk;", "delivered before end()");
    assert.equal(w.bytesWritten, 12);
    await w.write("second");
    await w.end();
    const rest: string[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(Buffer.from(r.value as Buffer).toString());
    assert.equal(rest.join(""), "second");
    sub.close();
    await pub.close();
  });

  test("subscriber at -1 receives only from the next segment; subscriber preconnects n+1", async () => {
    t.server.createChannel("edge");
    const pub = t.server.localPublisher("edge"); // in-process: no publisher preconnect on the server
    await pub.write("old0");
    await pub.write("old1");
    const sub = new TrickleSubscriber(`${t.base}/edge`);
    const p = sub.next();
    await wait(150);
    await pub.write("new2");
    const seg = (await within(p, 2000, "-1"))!;
    assert.equal(seg.seq, 2);
    assert.equal(await seg.text(), "new2");
    await wait(50);
    const pre = t.server.getChannel("edge")?.peek(3);
    assert.ok(pre, "GET for 3 is open (pre-created segment on the server)");
    await pub.write("new3");
    assert.equal(await (await within(sub.next(), 2000, "3"))!.text(), "new3");
    sub.close();
  });

  test("subscriber at -2 joins the segment being written: bytes so far, then the rest", async () => {
    t.server.createChannel("cur");
    const pub = new TricklePublisher(`${t.base}/cur`);
    const w = await pub.next();
    await w.write("A".repeat(5000));
    await wait(50);
    const sub = new TrickleSubscriber(`${t.base}/cur`, { start: -2 });
    const seg = (await within(sub.next(), 2000, "-2"))!;
    assert.equal(seg.seq, 0);
    const body = seg.buffer();
    await w.write("B".repeat(5000));
    await w.end();
    assert.equal((await body).toString(), "A".repeat(5000) + "B".repeat(5000));
    sub.close();
    await pub.close();
  });

  test("publisher preconnected long before data: tolerates 100 Continue keepalives", async () => {
    t.server.createChannel("pre");
    const pub = new TricklePublisher(`${t.base}/pre`);
    const errors: TrickleError[] = [];
    pub.on("error", (e) => errors.push(e));
    const w = await pub.next();
    await wait(500); // ~5 keepalives at 100 ms
    const sub = new TrickleSubscriber(`${t.base}/pre`, { start: 0 });
    const segP = sub.next();
    await w.write("late data");
    await w.end();
    assert.equal(await (await within(segP, 2000, "segment"))!.text(), "late data");
    // and the preconnected n+1 also survived its keepalives
    await wait(300);
    await pub.writeSegment("next one");
    assert.equal(await (await within(sub.next(), 2000, "segment 1"))!.text(), "next one");
    assert.deepEqual(errors, []);
    sub.close();
    await pub.close();
  });

  test("segment as a Writable: pipeline() from a Readable", async () => {
    t.server.createChannel("pipe");
    const pub = new TricklePublisher(`${t.base}/pipe`);
    const sub = new TrickleSubscriber(`${t.base}/pipe`, { start: 0 });
    const segP = sub.next();
    const w = await pub.next();
    const parts = Array.from({ length: 200 }, (_, i) => Buffer.alloc(1000, i % 256));
    await pipeline(Readable.from(parts), w.toWritable());
    const got = await (await within(segP, 2000, "segment"))!.buffer();
    assert.deepEqual(got, Buffer.concat(parts));
    sub.close();
    await pub.close();
  });

  test("470: subscriber behind the 5-ring jumps to Lp-Trickle-Latest", async () => {
    t.server.createChannel("lag");
    const pub = new TricklePublisher(`${t.base}/lag`);
    for (let i = 0; i < 8; i++) await pub.writeSegment(`s${i}`);
    const sub = new TrickleSubscriber(`${t.base}/lag`, { start: 1 });
    const skips: Array<{ from: number; to: number }> = [];
    sub.on("skip", (s) => skips.push(s));
    const p = sub.next();
    await wait(100);
    await pub.writeSegment("s8");
    const seg = (await within(p, 2000, "after jump"))!;
    assert.equal(seg.seq, 8);
    assert.equal(await seg.text(), "s8");
    assert.deepEqual(skips, [{ from: 1, to: 8 }]);
    sub.close();
    await pub.close();
  });

  test("470: subscriber too far ahead jumps back to the live edge", async () => {
    t.server.createChannel("ahead");
    const pub = new TricklePublisher(`${t.base}/ahead`);
    await pub.writeSegment("s0");
    const sub = new TrickleSubscriber(`${t.base}/ahead`, { start: 40 });
    const skips: Array<{ from: number; to: number }> = [];
    sub.on("skip", (s) => skips.push(s));
    const p = sub.next();
    await wait(100);
    await pub.writeSegment("s1");
    const seg = (await within(p, 2000, "after jump"))!;
    assert.equal(seg.seq, 1);
    assert.deepEqual(skips, [{ from: 40, to: 1 }]);
    sub.close();
    await pub.close();
  });

  test("404 for an unknown channel is terminal for the subscriber", async () => {
    const sub = new TrickleSubscriber(`${t.base}/missing`, { retryDelayMs: 10 });
    const errors: TrickleError[] = [];
    sub.on("error", (e) => errors.push(e));
    await assert.rejects(sub.next(), (e: unknown) => e instanceof TrickleError && e.kind === "not-found" && e.terminal);
    await assert.rejects(sub.next(), (e: unknown) => e instanceof TrickleError && e.kind === "not-found", "stays failed");
    assert.equal(errors.length, 1);
    sub.close();
  });

  test("404 for an unknown channel is terminal for the publisher (error event, rejected writes)", async () => {
    const pub = new TricklePublisher(`${t.base}/missing`);
    const errors: TrickleError[] = [];
    pub.on("error", (e) => errors.push(e));
    const w = await pub.next();
    await waitFor(() => errors.length > 0, 2000, "error event from the preconnect");
    assert.equal(errors[0]?.kind, "not-found");
    assert.equal(errors[0]?.terminal, true);
    await assert.rejects(w.write("x"), (e: unknown) => e instanceof TrickleError && e.kind === "not-found");
    await assert.rejects(pub.next(), (e: unknown) => e instanceof TrickleError && e.kind === "not-found");
    await pub.close();
  });

  test("channel DELETE: subscriber ends (Lp-Trickle-Closed), publisher gets a terminal 'closed'", async () => {
    t.server.createChannel("bye");
    const pub = new TricklePublisher(`${t.base}/bye`);
    const pubErrors: TrickleError[] = [];
    pub.on("error", (e) => pubErrors.push(e));
    const sub = new TrickleSubscriber(`${t.base}/bye`, { start: 0 });
    let ended = false;
    sub.on("end", () => (ended = true));
    const collected = (async () => {
      const out: string[] = [];
      for await (const seg of sub) out.push(await seg.text());
      return out;
    })();
    await pub.writeSegment("only");
    await wait(100); // publisher preconnected seq 1 (and 2 after next), subscriber waits on 1
    t.server.deleteChannel("bye");
    assert.deepEqual(await within(collected, 2000, "subscriber end"), ["only"]);
    assert.equal(ended, true);
    await waitFor(() => pubErrors.length > 0, 2000, "publisher notices");
    assert.equal(pubErrors[0]?.kind, "closed");
    await assert.rejects(pub.next(), (e: unknown) => e instanceof TrickleError && e.kind === "closed");
    await pub.close();
  });

  test("publisher.close() deletes the channel and ends subscribers", async () => {
    t.server.createChannel("close");
    const pub = new TricklePublisher(`${t.base}/close`);
    const sub = new TrickleSubscriber(`${t.base}/close`, { start: 0 });
    const p = sub.next();
    await pub.writeSegment("x");
    assert.equal(await (await p)!.text(), "x");
    const end = sub.next();
    await wait(50);
    await pub.close();
    assert.equal(await within(end, 2000, "end"), null);
    assert.equal(t.server.hasChannel("close"), false);
  });

  test("a segment is retried when its preconnected POST died before any byte", async () => {
    t.server.createChannel("retry");
    const pub = new TricklePublisher(`${t.base}/retry`);
    const errors: TrickleError[] = [];
    pub.on("error", (e) => errors.push(e));
    await pub.writeSegment("s0");
    await wait(50);
    // The server releases the preconnected POST for seq 1 (segment DELETE) before any byte.
    assert.equal(t.server.getChannel("retry")?.closeSegment(1), true);
    await wait(50);
    assert.equal(await within(pub.writeSegment("s1 after retry"), 2000, "retried segment"), 1);
    const sub = new TrickleSubscriber(`${t.base}/retry`, { start: 1 });
    assert.equal(await (await within(sub.next(), 2000, "seg 1"))!.text(), "s1 after retry");
    assert.deepEqual(errors, []);
    sub.close();
    await pub.close();
  });

  test("a segment that lost its connection after bytes were sent is not retried", async () => {
    t.server.createChannel("noretry");
    const pub = new TricklePublisher(`${t.base}/noretry`);
    const errors: TrickleError[] = [];
    pub.on("error", (e) => errors.push(e));
    const w = await pub.next();
    await w.write("some bytes");
    await wait(50);
    t.server.deleteChannel("noretry"); // server answers 200 + Lp-Trickle-Closed and drops the connection
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 50; i++) {
          await w.write("more");
          await wait(10);
        }
        await w.end();
      })(),
      (e: unknown) => e instanceof TrickleError && (e.kind === "closed" || e.kind === "network"),
    );
    assert.ok(errors.length >= 1);
    await pub.close();
  });

  test("Lp-Trickle-Reset from a restarting publisher releases the old publisher's subscribers", async () => {
    t.server.createChannel("restart");
    const old = new TricklePublisher(`${t.base}/restart`, { preconnect: false });
    await old.writeSegment("a");
    const stuck = await old.next();
    await stuck.write("half");
    const sub = new TrickleSubscriber(`${t.base}/restart`, { start: 1 });
    const seg = (await within(sub.next(), 2000, "seg 1"))!;
    const body = seg.text();
    const fresh = new TricklePublisher(`${t.base}/restart`, { preconnect: false });
    assert.equal(await fresh.resumeFromServer(), 2);
    await fresh.writeSegment("restarted");
    assert.equal(await within(body, 2000, "released"), "half");
    assert.equal(await (await within(sub.next(), 2000, "seg 2"))!.text(), "restarted");
    stuck.abort();
    sub.close();
    await old.close({ deleteChannel: false });
    await fresh.close();
  });

  test("create() and serverNext()", async () => {
    const pub = new TricklePublisher(`${t.base}/made`, { contentType: "application/json" });
    await pub.create();
    assert.equal(t.server.getChannel("made")?.mimeType, "application/json");
    assert.equal(await pub.serverNext(), 0);
    await pub.writeSegment("{}");
    assert.equal(await pub.serverNext(), 1);
    await pub.close();
  });

  test("JSON helpers: control messages and events, one message per segment", async () => {
    t.server.createChannel("ctl", "application/json");
    t.server.createChannel("ev", "application/json");
    // gateway → orchestrator control, read in-process
    const control = new TrickleJsonPublisher(`${t.base}/ctl`);
    const localCtl = t.server.subscribe("ctl", { start: 0 });
    await control.send({ prompt: "a" });
    await control.send({ prompt: "b" });
    control.startKeepalive(100);
    const msgs: unknown[] = [];
    for (let i = 0; i < 3; i++) msgs.push(await (await within(localCtl.next(), 2000, "ctl"))!.json());
    assert.deepEqual(msgs, [{ prompt: "a" }, { prompt: "b" }, { keep: "alive" }]);
    await control.close({ deleteChannel: false });
    localCtl.close();

    // orchestrator → gateway events, written in-process
    const events = new TrickleJsonSubscriber<{ type: string; n?: number }>(`${t.base}/ev`, { start: -1 });
    const first = events.next();
    await wait(50);
    const out = t.server.localPublisher("ev");
    out.writeJson({ type: "status", n: 1 });
    out.next().end("not json");
    out.next().end(`"${"x".repeat(MAX_JSON_SEGMENT_BYTES)}"`); // valid JSON, but no message is this big: dropped unread
    out.writeJson({ type: "status", n: 2 });
    assert.deepEqual(await within(first, 2000, "ev 1"), { seq: 0, value: { type: "status", n: 1 } });
    assert.deepEqual(await within(events.next(), 2000, "ev 2"), { seq: 3, value: { type: "status", n: 2 } });
    assert.equal(events.invalid, 1);
    const end = events.next();
    await wait(50); // the subscriber's GET for seq 4 is waiting on the server
    t.server.deleteChannel("ev");
    assert.equal(await within(end, 2000, "end"), null);
  });

  test("in-process publisher → HTTP subscriber, many segments keep order", async () => {
    t.server.createChannel("bulk", "video/MP2T");
    const sub = new TrickleSubscriber(`${t.base}/bulk`, { start: 0 });
    const out = t.server.localPublisher("bulk");
    const seen: number[] = [];
    const reader = (async () => {
      for await (const seg of sub) {
        const b = await seg.buffer();
        assert.equal(b.length, 10_000);
        assert.equal(b[0], seg.seq % 256);
        seen.push(seg.seq);
        if (seen.length === 20) break;
      }
    })();
    for (let i = 0; i < 20; i++) {
      const w = out.next();
      w.write(Buffer.alloc(5000, i % 256));
      await wait(5);
      w.end(Buffer.alloc(5000, i % 256));
      await wait(5);
    }
    await within(reader, 10_000, "bulk reader");
    assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => i));
  });
});

describe("trickle clients: network failures", () => {
  test("subscriber retries ~5 x 300 ms then gives up with a network error", async () => {
    const port = await deadPort();
    const sub = new TrickleSubscriber(`http://127.0.0.1:${port}/ai/trickle/x`, { retries: 5, retryDelayMs: 60 });
    const started = Date.now();
    await assert.rejects(sub.next(), (e: unknown) => e instanceof TrickleError && e.kind === "network" && e.terminal);
    const took = Date.now() - started;
    assert.ok(took >= 4 * 60, `gave up after ${took} ms: retried`);
    sub.close();
  });

  test("subscriber recovers when the server comes back within the retries", async () => {
    const t = await startTrickle("node");
    const url = new URL(t.base);
    await t.close();
    const sub = new TrickleSubscriber(`${url.href}/back`, { retries: 20, retryDelayMs: 50, start: 0 });
    const p = sub.next();
    await wait(200);
    // restart on the same port
    const { TrickleServer, createTrickleHandler } = await import("./index.ts");
    const http = await import("node:http");
    const server = new TrickleServer();
    server.createChannel("back");
    const handler = createTrickleHandler(server, "/ai/trickle");
    const hs = http.createServer((req, res) => void handler(req, res));
    await new Promise<void>((r) => hs.listen(Number(url.port), "127.0.0.1", r));
    try {
      await server.writeSegment("back", "hello again", 0);
      assert.equal(await (await within(p, 3000, "recovered"))!.text(), "hello again");
    } finally {
      sub.close();
      server.stop();
      hs.closeAllConnections();
      await new Promise<void>((r) => hs.close(() => r()));
    }
  });

  test("publisher with nothing listening fails the segment with a network error", async () => {
    const port = await deadPort();
    const pub = new TricklePublisher(`http://127.0.0.1:${port}/ai/trickle/x`, { retryDelayMs: 10 });
    const errors: TrickleError[] = [];
    pub.on("error", (e) => errors.push(e));
    const w = await pub.next();
    await assert.rejects(w.write("x"), (e: unknown) => e instanceof TrickleError && e.kind === "network" && !e.terminal);
    assert.equal(errors[0]?.kind, "network");
    await pub.close();
  });
});

describe("trickle clients over HTTPS (self-signed, HTTP/2 server with allowHTTP1)", () => {
  let t: TestTrickle;
  before(async () => {
    t = await startTrickle("https", { keepaliveIntervalMs: 100 });
  });
  after(async () => {
    await t.close();
  });

  test("round trip with certificate verification off (the default)", async () => {
    t.server.createChannel("tls", "video/MP2T");
    const pub = new TricklePublisher(`${t.base}/tls`);
    const sub = new TrickleSubscriber(`${t.base}/tls`, { start: 0 });
    const segs: TrickleSegment[] = [];
    const p = (async () => {
      for (let i = 0; i < 2; i++) segs.push((await sub.next())!);
    })();
    const w = await pub.next();
    await wait(250); // keepalives on the preconnected POST over TLS
    await w.write("secure ");
    await w.end();
    await pub.writeSegment("again");
    await within(p, 3000, "tls segments");
    assert.deepEqual(await Promise.all(segs.map(async (s) => `${s.seq}:${await s.text()}`)), ["0:secure ", "1:again"]);
    sub.close();
    await pub.close();
    assert.equal(t.server.hasChannel("tls"), false);
  });

  test("with verification on, the self-signed certificate is refused", async () => {
    t.server.createChannel("strict");
    const sub = new TrickleSubscriber(`${t.base}/strict`, { rejectUnauthorized: true, retries: 2, retryDelayMs: 10 });
    await assert.rejects(sub.next(), (e: unknown) => e instanceof TrickleError && e.kind === "network");
    sub.close();
  });

  test("collect helper sanity", async () => {
    assert.equal((await collect(Readable.from([Buffer.from("a"), Buffer.from("b")]))).toString(), "ab");
  });
});
