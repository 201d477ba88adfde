import { test } from "node:test";
import assert from "node:assert/strict";
import { ChunkProtocolError, ChunkReader, type ChunkReaderOptions, type RtmpMessage } from "./chunk-reader.ts";
import { encodeChunks } from "./chunk-writer.ts";

// ---- raw chunk building (independent of chunk-writer.ts, so every header type can be produced) ----

function basicHeader(fmt: number, csid: number): Buffer {
  if (csid < 64) return Buffer.of((fmt << 6) | csid);
  if (csid < 320) return Buffer.of(fmt << 6, csid - 64);
  return Buffer.of((fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8);
}

interface Fields {
  ts?: number; // timestamp (fmt 0) or delta (fmt 1, 2)
  len?: number;
  type?: number;
  sid?: number;
  /** For fmt 3: append these 4 bytes as an extended timestamp. */
  ext?: number;
}

function chunk(fmt: number, csid: number, f: Fields, payload: Buffer = Buffer.alloc(0)): Buffer {
  const parts = [basicHeader(fmt, csid)];
  let ext: number | undefined = f.ext;
  if (fmt <= 2) {
    const ts = f.ts ?? 0;
    const h = Buffer.alloc([11, 7, 3][fmt]!);
    h.writeUIntBE(ts >= 0xffffff ? 0xffffff : ts, 0, 3);
    if (ts >= 0xffffff) ext = ts;
    if (fmt <= 1) {
      h.writeUIntBE(f.len ?? payload.length, 3, 3);
      h[6] = f.type ?? 8;
    }
    if (fmt === 0) h.writeUInt32LE(f.sid ?? 1, 7);
    parts.push(h);
  }
  if (ext !== undefined) {
    const e = Buffer.alloc(4);
    e.writeUInt32BE(ext >>> 0, 0);
    parts.push(e);
  }
  parts.push(payload);
  return Buffer.concat(parts);
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

function reader(overrides: Partial<ChunkReaderOptions> = {}) {
  const messages: RtmpMessage[] = [];
  const r: ChunkReader = new ChunkReader({
    maxChunkStreams: 8,
    maxMessageLength: () => 1 << 24,
    maxInFlightBytes: () => 1 << 26,
    onMessage: (m) => {
      messages.push({ ...m, payload: Buffer.from(m.payload) });
      if (m.typeId === 1) r.setChunkSize(m.payload.readUInt32BE(0));
    },
    ...overrides,
  });
  return { r, messages };
}

/** Feeds the bytes cut at the given offsets. */
function feed(r: ChunkReader, data: Buffer, cuts: number[]): void {
  let last = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    r.push(data.subarray(last, c));
    last = c;
  }
  r.push(data.subarray(last));
}

function randomCuts(len: number, n: number): number[] {
  return Array.from({ length: n }, () => Math.floor(Math.random() * len));
}

function summary(ms: RtmpMessage[]) {
  return ms.map((m) => ({ csid: m.csid, type: m.typeId, sid: m.streamId, ts: m.timestamp, payload: m.payload.toString("hex") }));
}

// ---- tests ----

test("all four header types, interleaved chunk streams and 1/2/3-byte basic headers decode the same for any TCP split", () => {
  const a = bytes(300, 1); // 3 chunks at the default size of 128
  const v = bytes(10, 2);
  const stream = Buffer.concat([
    chunk(0, 4, { ts: 1000, type: 8, sid: 1, len: 300 }, a.subarray(0, 128)),
    chunk(0, 6, { ts: 1000, type: 9, sid: 1 }, v), // interleaved between a's chunks
    chunk(3, 4, {}, a.subarray(128, 256)),
    chunk(3, 4, {}, a.subarray(256)),
    chunk(1, 4, { ts: 23, type: 8, len: 50 }, bytes(50, 3)), // delta 23 -> 1023
    chunk(2, 4, { ts: 21 }, bytes(50, 4)), // delta 21 -> 1044
    chunk(3, 4, {}, bytes(50, 5)), // new message, same delta -> 1065
    chunk(3, 6, {}, bytes(10, 6)), // type 3 after type 0: the delta is the type-0 timestamp -> 2000
    chunk(0, 70, { ts: 5, type: 20, sid: 0 }, bytes(3, 7)), // 2-byte basic header
    chunk(0, 400, { ts: 6, type: 18, sid: 1 }, bytes(4, 8)), // 3-byte basic header
  ]);
  const expected = [
    { csid: 6, type: 9, sid: 1, ts: 1000, payload: v.toString("hex") },
    { csid: 4, type: 8, sid: 1, ts: 1000, payload: a.toString("hex") },
    { csid: 4, type: 8, sid: 1, ts: 1023, payload: bytes(50, 3).toString("hex") },
    { csid: 4, type: 8, sid: 1, ts: 1044, payload: bytes(50, 4).toString("hex") },
    { csid: 4, type: 8, sid: 1, ts: 1065, payload: bytes(50, 5).toString("hex") },
    { csid: 6, type: 9, sid: 1, ts: 2000, payload: bytes(10, 6).toString("hex") },
    { csid: 70, type: 20, sid: 0, ts: 5, payload: bytes(3, 7).toString("hex") },
    { csid: 400, type: 18, sid: 1, ts: 6, payload: bytes(4, 8).toString("hex") },
  ];
  // Whole, byte by byte, and many random splits.
  const splits: number[][] = [[], Array.from({ length: stream.length }, (_, i) => i)];
  for (let i = 0; i < 300; i++) splits.push(randomCuts(stream.length, 1 + (i % 12)));
  for (const cuts of splits) {
    const { r, messages } = reader();
    feed(r, stream, cuts);
    assert.deepEqual(summary(messages), expected, `cuts ${cuts.join(",")}`);
    assert.equal(r.bufferedBytes, 0);
  }
});

test("extended timestamps: type 0 absolute, type 1 delta, type 3 carrying it or not on continuations", () => {
  const big = 0x01000005; // > 24 bits
  const p = bytes(300, 9);
  const withRepeat = Buffer.concat([
    chunk(0, 4, { ts: big, type: 9, len: 300 }, p.subarray(0, 128)),
    chunk(3, 4, { ext: big }, p.subarray(128, 256)), // ffmpeg/librtmp style: repeated
    chunk(3, 4, { ext: big }, p.subarray(256)),
  ]);
  const withoutRepeat = Buffer.concat([
    chunk(0, 4, { ts: big, type: 9, len: 300 }, p.subarray(0, 128)),
    chunk(3, 4, {}, p.subarray(128, 256)), // other encoders: not repeated
    chunk(3, 4, {}, p.subarray(256)),
  ]);
  for (const stream of [withRepeat, withoutRepeat]) {
    for (let i = 0; i < 100; i++) {
      const { r, messages } = reader();
      feed(r, stream, i === 0 ? [] : randomCuts(stream.length, 1 + (i % 8)));
      assert.equal(messages.length, 1);
      assert.equal(messages[0]!.timestamp, big);
      assert.deepEqual(messages[0]!.payload, p);
    }
  }

  // A delta that needs the extended field, then a type-3 new message that must carry it too.
  const delta = 0x01000000;
  const stream = Buffer.concat([
    chunk(0, 5, { ts: 10, type: 8, len: 4 }, bytes(4, 1)),
    chunk(1, 5, { ts: delta, type: 8, len: 4 }, bytes(4, 2)),
    chunk(3, 5, { ext: delta }, bytes(4, 3)),
    chunk(2, 5, { ts: 7 }, bytes(4, 4)), // back to a small delta: no extended field any more
    chunk(3, 5, {}, bytes(4, 5)),
  ]);
  const { r, messages } = reader();
  feed(r, stream, randomCuts(stream.length, 5));
  assert.deepEqual(messages.map((m) => m.timestamp), [10, 10 + delta, 10 + 2 * delta, 17 + 2 * delta, 24 + 2 * delta]);

  // 32-bit wrap-around.
  const wrap = reader();
  wrap.r.push(Buffer.concat([chunk(0, 4, { ts: 0xfffffff0, type: 8, len: 1 }, bytes(1, 0)), chunk(2, 4, { ts: 0x20 }, bytes(1, 1))]));
  assert.deepEqual(wrap.messages.map((m) => m.timestamp), [0xfffffff0, 0x10]);
});

test("a chunk size change applies from the next chunk, whatever the TCP split", () => {
  const size = Buffer.alloc(4);
  size.writeUInt32BE(4096, 0);
  const big = bytes(10000, 3);
  const stream = Buffer.concat([
    chunk(0, 2, { ts: 0, type: 1, sid: 0 }, size),
    chunk(0, 6, { ts: 40, type: 9, len: big.length }, big.subarray(0, 4096)),
    chunk(3, 6, {}, big.subarray(4096, 8192)),
    chunk(3, 6, {}, big.subarray(8192)),
  ]);
  for (let i = 0; i < 50; i++) {
    const { r, messages } = reader();
    feed(r, stream, i === 0 ? [] : randomCuts(stream.length, 1 + (i % 10)));
    assert.equal(r.incomingChunkSize, 4096);
    assert.equal(messages.length, 2);
    assert.deepEqual(messages[1]!.payload, big);
    assert.equal(messages[1]!.timestamp, 40);
  }
});

test("an oversize message is refused on its header, before its payload arrives", () => {
  const { r, messages } = reader({ maxMessageLength: (type) => (type === 9 ? 1000 : -1) });
  // Only the 12-byte header of a message declaring 5000 bytes.
  assert.throws(() => r.push(chunk(0, 6, { ts: 0, type: 9, len: 5000 })), ChunkProtocolError);
  assert.equal(messages.length, 0);
  assert.equal(r.bufferedBytes, 0);

  const exact = reader({ maxMessageLength: () => 1000 });
  exact.r.push(chunk(0, 6, { ts: 0, type: 9, len: 1000 }));
  assert.equal(exact.r.bufferedBytes, 0);

  // A type that is not allowed right now.
  const notNow = reader({ maxMessageLength: (type) => (type === 20 ? 100 : -1) });
  assert.throws(() => notNow.r.push(chunk(0, 4, { ts: 0, type: 8, len: 10 })), /type 8 not allowed/);

  // Partial messages together may not exceed the in-flight limit.
  const inFlight = reader({ maxInFlightBytes: () => 200 });
  inFlight.r.push(chunk(0, 4, { ts: 0, type: 8, len: 1000 }, bytes(128, 1)));
  assert.throws(() => inFlight.r.push(chunk(0, 5, { ts: 0, type: 8, len: 1000 }, bytes(128, 1))), /partial messages/);
});

test("garbage headers are refused: type 2/3 first, too many chunk streams, a new header mid-message", () => {
  assert.throws(() => reader().r.push(chunk(2, 4, { ts: 1 })), /starts with a type-2 header/);
  assert.throws(() => reader().r.push(chunk(3, 4, {})), /starts with a type-3 header/);
  const many = reader({ maxChunkStreams: 3 });
  assert.throws(() => {
    for (let csid = 3; csid < 10; csid++) many.r.push(chunk(0, csid, { ts: 0, type: 8 }, bytes(1, csid)));
  }, /more than 3 chunk streams/);
  const mid = reader();
  mid.r.push(chunk(0, 4, { ts: 0, type: 8, len: 200 }, bytes(128, 1)));
  assert.throws(() => mid.r.push(chunk(0, 4, { ts: 0, type: 8, len: 200 }, bytes(72, 1))), /middle of a message/);
});

test("buffers grow with bytes received, not with the declared length", () => {
  const before = process.memoryUsage().arrayBuffers;
  const readers: ChunkReader[] = [];
  for (let i = 0; i < 50; i++) {
    const { r } = reader();
    // Each declares a 16 MiB (the 24-bit maximum) message and sends one 128-byte chunk of it.
    r.push(chunk(0, 6, { ts: 0, type: 9, len: 0xffffff }, bytes(128, i)));
    assert.equal(r.bufferedBytes, 128);
    readers.push(r);
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < 8 * 1024 * 1024, `arrayBuffers grew by ${grown} bytes for 50 x 128 bytes received`);
  assert.equal(readers.length, 50);
});

test("reusePayloads: media payloads share one buffer per chunk stream, each exact while delivered; others are their own", () => {
  const seen: Array<{ payload: Buffer; hex: string }> = [];
  let reuse = true;
  const r = new ChunkReader({
    maxChunkStreams: 8,
    maxMessageLength: () => 1 << 24,
    maxInFlightBytes: () => 1 << 26,
    reusePayloads: () => reuse,
    onMessage: (m) => seen.push({ payload: m.payload, hex: m.payload.toString("hex") }),
  });
  const frames = [bytes(300, 1), bytes(90, 2), bytes(20000, 3), bytes(5, 4)];
  const data = Buffer.concat([
    ...frames.map((f, i) => encodeChunks({ csid: 6, typeId: 9, streamId: 1, timestamp: i * 33, payload: f }, 128)),
    encodeChunks({ csid: 4, typeId: 20, streamId: 0, timestamp: 0, payload: bytes(50, 5) }, 128),
  ]);
  feed(r, data, randomCuts(data.length, 40));
  assert.deepEqual(seen.map((s) => s.hex), [...frames, bytes(50, 5)].map((f) => f.toString("hex")), "each payload exact when delivered");
  const buffers = seen.slice(0, 4).map((s) => s.payload.buffer);
  assert.equal(buffers[0], buffers[1], "the second frame reuses the first one's buffer");
  assert.notEqual(buffers[1], buffers[2], "a longer frame gets a larger buffer ...");
  assert.equal(buffers[2], buffers[3], "... which is reused in turn");
  assert.notEqual(seen[4]!.payload.buffer, buffers[3], "a command is never in a reused buffer");
  reuse = false;
  seen.length = 0;
  r.push(Buffer.concat(frames.slice(0, 2).map((f, i) => encodeChunks({ csid: 6, typeId: 9, streamId: 1, timestamp: 200 + i, payload: f }, 128))));
  assert.equal(seen.length, 2);
  assert.notEqual(seen[0]!.payload.buffer, buffers[3], "without reuse a frame is not in the reused buffer");
  assert.equal(seen[0]!.hex, frames[0]!.toString("hex"));
});

test("abort drops a partial message; a zero-length message is delivered; stop ends parsing", () => {
  const { r, messages } = reader();
  const abort = Buffer.alloc(4);
  abort.writeUInt32BE(4, 0);
  r.push(chunk(0, 4, { ts: 0, type: 8, len: 300 }, bytes(128, 1)));
  assert.equal(r.bufferedBytes, 128);
  r.abort(4);
  assert.equal(r.bufferedBytes, 0);
  r.push(chunk(0, 4, { ts: 5, type: 8, len: 0 }));
  r.push(chunk(0, 4, { ts: 6, type: 8, len: 2 }, bytes(2, 1)));
  assert.deepEqual(messages.map((m) => [m.timestamp, m.payload.length]), [[5, 0], [6, 2]]);
  r.stop();
  r.push(chunk(0, 4, { ts: 7, type: 8, len: 2 }, bytes(2, 1)));
  assert.equal(messages.length, 2);
});

test("encodeChunks output is read back exactly (chunk sizes, csid ranges, extended timestamps)", () => {
  for (const csid of [2, 3, 63, 64, 319, 320, 65599]) {
    for (const timestamp of [0, 1234, 0xffffff, 0xfffffffe]) {
      for (const chunkSize of [128, 4096]) {
        const payload = bytes(10000, csid);
        const { r, messages } = reader();
        r.setChunkSize(chunkSize);
        const wire = encodeChunks({ csid, typeId: 9, streamId: 1, timestamp, payload }, chunkSize);
        feed(r, wire, randomCuts(wire.length, 6));
        assert.equal(messages.length, 1);
        assert.deepEqual(
          { csid: messages[0]!.csid, ts: messages[0]!.timestamp, sid: messages[0]!.streamId },
          { csid, ts: timestamp, sid: 1 },
        );
        assert.deepEqual(messages[0]!.payload, payload);
      }
    }
  }
});

test("fuzz: random and mutated streams raise only ChunkProtocolError, never another error", () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const valid = Buffer.concat([
    chunk(0, 4, { ts: 1000, type: 8, len: 300 }, bytes(128, 1)),
    chunk(3, 4, {}, bytes(128, 2)),
    chunk(3, 4, {}, bytes(44, 3)),
    chunk(1, 4, { ts: 0xffffff, type: 9, len: 20 }, bytes(20, 4)),
    chunk(2, 4, { ts: 5 }, bytes(20, 5)),
    chunk(0, 70, { ts: 5, type: 20, sid: 0 }, bytes(3, 7)),
  ]);
  for (let i = 0; i < 3000; i++) {
    let data: Buffer;
    if (i % 2 === 0) {
      data = Buffer.alloc(1 + Math.floor(rnd() * 600));
      for (let j = 0; j < data.length; j++) data[j] = Math.floor(rnd() * 256);
    } else {
      data = Buffer.from(valid);
      for (let k = 0; k < 1 + Math.floor(rnd() * 6); k++) data[Math.floor(rnd() * data.length)] = Math.floor(rnd() * 256);
    }
    const { r } = reader({ maxChunkStreams: 4, maxMessageLength: (t) => (t === 8 || t === 9 || t === 20 ? 4096 : -1), maxInFlightBytes: () => 8192 });
    try {
      feed(r, data, randomCuts(data.length, 1 + (i % 5)));
    } catch (err) {
      assert.ok(err instanceof ChunkProtocolError, `${(err as Error).name}: ${(err as Error).message}`);
    }
    assert.ok(r.bufferedBytes <= 8192);
  }
});
