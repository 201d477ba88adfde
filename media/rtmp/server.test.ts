// The RTMP server against a scripted client: command flow, admission, media delivery, limits, timeouts, caps.
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { encodeAmf0 } from "./amf0.ts";
import { MessageType } from "./messages.ts";
import { RtmpServer, type RtmpMedia, type RtmpPublisher, type RtmpPublishRequest, type RtmpServerOptions } from "./server.ts";
import { TestRtmpClient } from "./test-client.ts";

const KEY = "sk_live_9f8e7d6c5b4a";

interface Harness {
  server: RtmpServer;
  logs: Array<{ level: string; msg: string; fields: Record<string, unknown> }>;
  requests: RtmpPublishRequest[];
  media: RtmpMedia[];
  flv: Buffer[];
  closes: number;
}

const servers: RtmpServer[] = [];
const clients: TestRtmpClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});

async function start(
  opts: Partial<RtmpServerOptions> & { decide?: (req: RtmpPublishRequest, p: RtmpPublisher) => Promise<true | string> } = {},
): Promise<Harness> {
  const h: Harness = { server: undefined as unknown as RtmpServer, logs: [], requests: [], media: [], flv: [], closes: 0 };
  h.server = new RtmpServer({
    host: "127.0.0.1",
    port: 0,
    onLog: (level, msg, fields) => h.logs.push({ level, msg, fields }),
    onPublish: async (req, publisher) => {
      h.requests.push(req);
      publisher.onMedia((m) => h.media.push(m));
      publisher.onFlv((c) => h.flv.push(c));
      publisher.onClose(() => h.closes++);
      return opts.decide ? opts.decide(req, publisher) : true;
    },
    ...opts,
  });
  await h.server.start();
  servers.push(h.server);
  return h;
}

async function client(h: Harness, localAddress?: string): Promise<TestRtmpClient> {
  const c = await TestRtmpClient.connect(h.server.port, { localAddress });
  clients.push(c);
  return c;
}

function within<T>(p: Promise<T>, ms: number, label: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${label} not within ${ms} ms`)), ms))]);
}

function assertNoKeyLogged(h: Harness, key = KEY): void {
  const text = JSON.stringify(h.logs);
  assert.ok(!text.includes(key), `a log line contains the stream key: ${text}`);
}

const avcHeader = Buffer.from([0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e]);
const aacHeader = Buffer.from([0xaf, 0, 0x11, 0x90]);

test("publish flow: connect, releaseStream, FCPublish, createStream, publish -> Publish.Start; media with timestamps; FLV; deleteStream ends it", async () => {
  const h = await start();
  const c = await client(h);
  await c.handshake();
  const streamId = await c.connectAndCreateStream("live?token=abc", "rtmp://127.0.0.1/live?token=abc");
  assert.equal(streamId, 1);
  // The server announced a window, peer bandwidth and its chunk size before the connect result.
  assert.ok(c.replies.some((r) => r.typeId === MessageType.WindowAckSize));
  assert.ok(c.replies.some((r) => r.typeId === MessageType.SetChunkSize && r.payload.readUInt32BE(0) === 4096));
  c.command("publish", [`${KEY}?foo=bar`, "live"], { streamId, transId: 0 });
  const status = await c.status("NetStream.Publish.");
  assert.equal(status.code, "NetStream.Publish.Start");
  assert.deepEqual(h.requests.map((r) => ({ app: r.app, name: r.name, remoteAddress: r.remoteAddress })), [
    { app: "live", name: KEY, remoteAddress: "127.0.0.1" },
  ]);

  c.setChunkSize(4096);
  c.media(MessageType.DataAmf0, streamId, 0, encodeAmf0("@setDataFrame", "onMetaData", { width: 640, height: 360 }), 5);
  c.media(MessageType.Video, streamId, 0, avcHeader);
  c.media(MessageType.Audio, streamId, 0, aacHeader);
  const frame = Buffer.alloc(20000, 7);
  frame[0] = 0x17;
  frame[1] = 1;
  c.media(MessageType.Video, streamId, 33, frame);
  c.media(MessageType.Audio, streamId, 21, Buffer.from([0xaf, 1, 1, 2, 3]));
  await c.until("5 media messages", () => h.media.length >= 5);
  assert.deepEqual(
    h.media.map((m) => [m.kind, m.timestampMs, m.data.length]),
    [["script", 0, encodeAmf0("onMetaData", { width: 640, height: 360 }).length], ["video", 0, avcHeader.length], ["audio", 0, 4], ["video", 33, 20000], ["audio", 21, 5]],
  );
  assert.deepEqual(h.media[0]!.data, encodeAmf0("onMetaData", { width: 640, height: 360 }), "@setDataFrame removed");
  assert.deepEqual(h.media[3]!.data, frame);

  // FLV: header, then a tag per message with the timestamp and a correct back-pointer.
  const flv = Buffer.concat(h.flv);
  assert.equal(flv.subarray(0, 3).toString(), "FLV");
  let pos = 13;
  const tags: Array<[number, number, number]> = [];
  while (pos < flv.length) {
    const size = flv.readUIntBE(pos + 1, 3);
    const ts = flv.readUIntBE(pos + 4, 3) | (flv[pos + 7]! << 24);
    tags.push([flv[pos]!, ts, size]);
    assert.equal(flv.readUInt32BE(pos + 11 + size), 11 + size);
    pos += 11 + size + 4;
  }
  assert.deepEqual(tags.map((t) => t[0]), [18, 9, 8, 9, 8]);
  assert.deepEqual(tags.map((t) => t[1]), [0, 0, 0, 33, 21]);

  assert.equal(h.closes, 0);
  c.command("FCUnpublish", [KEY]);
  c.command("deleteStream", [streamId]);
  await within(c.closed, 2000, "close after deleteStream");
  await c.until("onClose", () => h.closes === 1);
  assertNoKeyLogged(h);
  assert.ok(h.logs.some((l) => l.msg === "rtmp publishing" && typeof l.fields.key === "string" && l.fields.key.startsWith("key#")));
});

test("a refused publish gets NetStream.Publish.BadName with the reason, then the connection closes; onClose never runs", async () => {
  const h = await start({ decide: async () => "unknown stream key" });
  const c = await client(h);
  await c.startPublish(KEY);
  const status = await c.status("NetStream.Publish.");
  assert.equal(status.code, "NetStream.Publish.BadName");
  assert.equal(status.level, "error");
  assert.equal(status.description, "unknown stream key");
  await within(c.closed, 2000, "close after refusal");
  assert.equal(h.closes, 0);
  assertNoKeyLogged(h);
  assert.ok(h.logs.some((l) => l.msg === "rtmp publish refused" && l.fields.reason === "unknown stream key"));
});

test("an admission that throws or rejects refuses the publisher and the server keeps serving", async () => {
  let n = 0;
  const h = await start({
    decide: async () => {
      n++;
      if (n === 1) throw new Error("database down");
      return true;
    },
  });
  const bad = await client(h);
  await bad.startPublish(KEY);
  assert.equal((await bad.status("NetStream.Publish.")).code, "NetStream.Publish.BadName");
  await within(bad.closed, 2000, "close");
  const good = await client(h);
  await good.startPublish(KEY);
  assert.equal((await good.status("NetStream.Publish.")).code, "NetStream.Publish.Start");
});

test("media sent before admission resolves is held and delivered in order after acceptance", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const h = await start({ decide: async () => (await gate, true) });
  const c = await client(h);
  const streamId = await c.startPublish(KEY);
  // A client that does not wait for Publish.Start.
  for (let i = 0; i < 10; i++) c.media(MessageType.Video, streamId, i * 40, Buffer.from([0x27, 1, 0, 0, 0, i]));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(h.media.length, 0, "nothing delivered before acceptance");
  release();
  await c.until("10 held messages", () => h.media.length === 10);
  assert.deepEqual(h.media.map((m) => m.timestampMs), [0, 40, 80, 120, 160, 200, 240, 280, 320, 360]);
});

test("the owner's publisher.close() disconnects and runs onClose once", async () => {
  let pub!: RtmpPublisher;
  const h = await start({ decide: async (_req, p) => ((pub = p), true) });
  const c = await client(h);
  await c.startPublish(KEY);
  await c.status("NetStream.Publish.Start");
  pub.close();
  pub.close();
  await within(c.closed, 1000, "close");
  await c.until("onClose", () => h.closes === 1);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.closes, 1);
});

test("limits: an oversize media message, a chunk size above the cap, media before publish and garbage commands close the connection", async () => {
  const h = await start({ limits: { maxMediaMessageBytes: 100_000 } });

  // A header declaring more than the media limit (payload never sent).
  const big = await client(h);
  const sid = await big.startPublish(KEY);
  await big.status("NetStream.Publish.Start");
  const header = Buffer.alloc(12);
  header[0] = 6;
  header.writeUIntBE(100_001, 4, 3);
  header[7] = MessageType.Video;
  header.writeUInt32LE(sid, 8);
  big.write(header);
  await within(big.closed, 1000, "close on oversize media");
  await big.until("onClose", () => h.closes === 1);

  // Set Chunk Size above 64 KiB.
  const chunky = await client(h);
  await chunky.handshake();
  chunky.setChunkSize(1 << 20);
  await within(chunky.closed, 1000, "close on a huge chunk size");

  // Video before any publish.
  const early = await client(h);
  await early.handshake();
  early.media(MessageType.Video, 1, 0, avcHeader);
  await within(early.closed, 1000, "close on media before publish");

  // A command that is not AMF0.
  const amf = await client(h);
  await amf.handshake();
  amf.send({ csid: 3, typeId: MessageType.CommandAmf0, streamId: 0, timestamp: 0, payload: Buffer.from([0x02, 0, 50, 1, 2]) });
  await within(amf.closed, 1000, "close on an AMF decode error");

  // A command before connect.
  const order = await client(h);
  await order.handshake();
  order.command("publish", [KEY, "live"], { streamId: 1 });
  await within(order.closed, 1000, "close on publish before connect");

  // A command message over the pre-publish limit (64 KiB).
  const huge = await client(h);
  await huge.handshake();
  huge.send({ csid: 3, typeId: MessageType.CommandAmf0, streamId: 0, timestamp: 0, payload: encodeAmf0("connect", 1, { pad: "x".repeat(70_000) }) });
  await within(huge.closed, 1000, "close on an oversize command");

  // A non-RTMP client (HTTP on the RTMP port).
  const http = await client(h);
  http.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  await within(http.closed, 1000, "close on a non-RTMP handshake");

  assert.ok(h.logs.filter((l) => l.level === "warn" && String(l.fields.reason).startsWith("protocol error")).length >= 6);
  assertNoKeyLogged(h);
  // Still serving.
  const ok = await client(h);
  await ok.startPublish(KEY);
  assert.equal((await ok.status("NetStream.Publish.")).code, "NetStream.Publish.Start");
});

test("timeouts: handshake, connect-to-publish, and idle publisher are closed after their configured time", async () => {
  const h = await start({ limits: { handshakeTimeoutMs: 200, publishTimeoutMs: 400, idleTimeoutMs: 300 } });
  const t0 = Date.now();
  const silent = await client(h); // says nothing
  const noPublish = await client(h);
  await noPublish.handshake();
  await noPublish.connectAndCreateStream();
  const idle = await client(h);
  const sid = await idle.startPublish(KEY);
  await idle.status("NetStream.Publish.Start");
  idle.media(MessageType.Video, sid, 0, avcHeader); // one message, then silence

  await within(silent.closed, 1500, "handshake timeout");
  const silentMs = Date.now() - t0;
  await within(noPublish.closed, 1500, "publish timeout");
  const noPublishMs = Date.now() - t0;
  await within(idle.closed, 1500, "idle timeout");
  const idleMs = Date.now() - t0;
  assert.ok(silentMs >= 180 && silentMs < 700, `handshake timeout after ${silentMs} ms`);
  assert.ok(noPublishMs >= 380 && noPublishMs < 900, `publish timeout after ${noPublishMs} ms`);
  assert.ok(idleMs >= 280 && idleMs < 1200, `idle timeout after ${idleMs} ms`);
  await idle.until("onClose", () => h.closes === 1);
  assert.ok(h.logs.some((l) => /no media for 300 ms/.test(String(l.fields.reason))));

  // A publisher that keeps sending media is not idle.
  const busy = await client(h);
  const busySid = await busy.startPublish(KEY);
  await busy.status("NetStream.Publish.Start");
  for (let i = 0; i < 8; i++) {
    busy.media(MessageType.Audio, busySid, i * 100, aacHeader);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(busy.isOpen, "an active publisher stays connected past the idle timeout");
});

test("connection caps: per address and in total", async () => {
  const h = await start({ limits: { maxConnectionsPerAddress: 2, maxConnections: 3 } });
  const a1 = await client(h, "127.0.0.1");
  const a2 = await client(h, "127.0.0.1");
  await a1.handshake();
  await a2.handshake();
  const a3 = await client(h, "127.0.0.1");
  await within(a3.closed, 1000, "third connection from one address refused");
  const b1 = await client(h, "127.0.0.2");
  await b1.handshake();
  const c1 = await client(h, "127.0.0.3");
  await within(c1.closed, 1000, "fourth connection refused at the total cap");
  assert.equal(h.server.connections, 3);
  assert.ok(h.logs.some((l) => l.msg === "rtmp connections refused"));
  a1.close();
  await a1.closed;
  await a1.until("slot freed", () => h.server.connections === 2);
  const a4 = await client(h, "127.0.0.1");
  await a4.handshake();
  assert.ok(a4.isOpen);
});

test("acknowledgements follow the peer's window; pings are answered", async () => {
  const h = await start();
  const c = await client(h);
  const sid = await c.startPublish(KEY);
  await c.status("NetStream.Publish.Start");
  const win = Buffer.alloc(4);
  win.writeUInt32BE(50_000, 0);
  c.send({ csid: 2, typeId: MessageType.WindowAckSize, streamId: 0, timestamp: 0, payload: win });
  const ping = Buffer.from([0, 6, 0, 0, 0x12, 0x34]);
  c.send({ csid: 2, typeId: MessageType.UserControl, streamId: 0, timestamp: 0, payload: ping });
  for (let i = 0; i < 20; i++) c.media(MessageType.Video, sid, i * 33, Buffer.alloc(10_000, 1));
  const acks = await c.until("2 acknowledgements", () => {
    const a = c.replies.filter((r) => r.typeId === MessageType.Acknowledgement);
    return a.length >= 2 ? a : undefined;
  });
  const seq = acks.map((a) => a.payload.readUInt32BE(0));
  assert.ok(seq[0]! >= 50_000 && seq[1]! - seq[0]! >= 50_000, `ack sequence ${seq}`);
  const pong = await c.until("ping response", () => c.replies.find((r) => r.typeId === MessageType.UserControl && r.payload.readUInt16BE(0) === 7));
  assert.equal(pong.payload.readUInt32BE(2), 0x1234);
});

test("a throwing media listener closes that connection only; play is refused", async () => {
  const h = await start({
    decide: async (_req, p) => {
      p.onMedia(() => {
        throw new Error("listener bug");
      });
      return true;
    },
  });
  const c = await client(h);
  const sid = await c.startPublish(KEY);
  await c.status("NetStream.Publish.Start");
  c.media(MessageType.Video, sid, 0, avcHeader);
  await within(c.closed, 1000, "close after a throwing listener");
  assert.ok(h.logs.some((l) => /internal error: listener bug/.test(String(l.fields.reason))));

  const player = await client(h);
  await player.handshake();
  const psid = await player.connectAndCreateStream();
  player.command("play", [KEY], { streamId: psid, transId: 0 });
  assert.equal((await player.status("NetStream.Play.")).code, "NetStream.Play.Failed");
  await within(player.closed, 2000, "close after play");
  assertNoKeyLogged(h);
});

test("a second publish on a live connection and unknown commands", async () => {
  const h = await start();
  const c = await client(h);
  const sid = await c.startPublish(KEY);
  await c.status("NetStream.Publish.Start");
  const tid = c.command("getStreamLength", [KEY]);
  const reply = await c.result(tid);
  assert.equal(reply.values?.[0], "_error");
  assert.ok(c.isOpen);
  c.command("publish", ["other", "live"], { streamId: sid, transId: 0 });
  await within(c.closed, 1000, "close on a second publish");
});

test("start() on a taken port rejects with a clear error", async () => {
  const h = await start();
  const second = new RtmpServer({ host: "127.0.0.1", port: h.server.port, onPublish: async () => true });
  await assert.rejects(second.start(), new RegExp(`RTMP port 127.0.0.1:${h.server.port} is already in use`));
  // Not listening, so stop() is a no-op.
  await second.stop();
  // Still usable after the failure: a free port works.
  const third = new RtmpServer({ host: "127.0.0.1", port: 0, onPublish: async () => true });
  await third.start();
  servers.push(third);
  const probe = net.connect(third.port, "127.0.0.1");
  await new Promise((r) => probe.once("connect", r));
  probe.destroy();
});
