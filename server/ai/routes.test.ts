// The batch AI routes' handling of hostile bodies, on a real listening server with a
// stand-in service: multipart bodies are capped as a whole while they stream in (and per
// field and per file), malformed multipart and over-nested JSON are 400s in the SDK's shape,
// and none of these requests reaches the service (nothing is dispatched or billed).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { connect } from "node:net";
import { Readable } from "node:stream";
import Fastify, { type FastifyInstance } from "fastify";
import { registerAiRoutes } from "./routes.ts";
import type { AiJob, AiService } from "./service.ts";

const MiB = 1024 * 1024;
const BOUNDARY = "wharf-test-boundary";

/** The first 24 bytes of a 64x48 PNG: enough for the image probe. */
const PNG = (() => {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write("IHDR", 12, "latin1");
  b.writeUInt32BE(64, 16);
  b.writeUInt32BE(48, 20);
  return b;
})();

const fieldHead = (name: string) => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`);
const fileHead = (name: string) => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"; filename="in.png"\r\nContent-Type: image/png\r\n\r\n`);
const CRLF = Buffer.from("\r\n");
const END = Buffer.from(`--${BOUNDARY}--\r\n`);

/** A multipart body as a lazy list of chunks: the image, the prompt, then `fields` text fields of `fieldBytes` each. */
function* formChunks(fields: number, fieldBytes: number): Generator<Buffer> {
  yield fileHead("image");
  yield PNG;
  yield CRLF;
  yield fieldHead("prompt");
  yield Buffer.from("make it blue");
  yield CRLF;
  const filler = Buffer.alloc(Math.min(fieldBytes, MiB), "x");
  for (let i = 0; i < fields; i++) {
    yield fieldHead(`padding_${i}`);
    for (let left = fieldBytes; left > 0; left -= filler.length) yield left >= filler.length ? filler : filler.subarray(0, left);
    yield CRLF;
  }
  yield END;
}

const formLength = (fields: number, fieldBytes: number) => {
  let n = 0;
  for (const c of formChunks(fields, 0)) n += c.length;
  return n + fields * fieldBytes;
};

interface Sent {
  status: number;
  body: string;
  /** Bytes of the body the client had handed to the socket when the answer came. */
  bytesSent: number;
}

/** POSTs a streamed body (chunked unless `length` is given) and stops sending once the answer arrives. */
function post(port: number, path: string, chunks: Iterable<Buffer>, opts: { length?: number; contentType?: string } = {}): Promise<Sent> {
  return new Promise((resolve, reject) => {
    let bytesSent = 0;
    let answered = false;
    const body = Readable.from((function* () {
      for (const c of chunks) {
        if (answered) return;
        bytesSent += c.length;
        yield c;
      }
    })(), { objectMode: false });
    const req = request({
      host: "127.0.0.1", port, path, method: "POST",
      headers: {
        "content-type": opts.contentType ?? `multipart/form-data; boundary=${BOUNDARY}`,
        ...(opts.length !== undefined ? { "content-length": String(opts.length) } : {}),
      },
    }, (res) => {
      answered = true;
      const got: Buffer[] = [];
      res.on("data", (d: Buffer) => got.push(d));
      res.on("end", () => {
        resolve({ status: res.statusCode!, body: Buffer.concat(got).toString("utf8"), bytesSent });
        req.destroy(); // a refused body is not sent on
      });
      res.on("error", reject);
    });
    // The server may close the connection while we still send: the answer is what counts.
    req.on("error", (err) => {
      if (!answered) reject(err);
    });
    body.on("error", () => {});
    body.pipe(req);
  });
}

describe("batch AI routes: hostile bodies", () => {
  let app: FastifyInstance;
  let port: number;
  const dispatched: AiJob[] = [];
  const service = {
    async run(job: AiJob) {
      dispatched.push(job);
      return { kind: "json", body: { images: [{ url: "http://x/r", seed: 1, nsfw: false }] }, candidate: {}, requestId: "r", costWei: 0n };
    },
  } as unknown as AiService;
  const MAX_UPLOAD = 4 * MiB;
  const MAX_FIELD = 2 * MiB;
  const LIMIT = MAX_UPLOAD + MAX_FIELD; // a multipart body: one file at its limit plus the text fields

  before(async () => {
    app = Fastify();
    await registerAiRoutes(app, { service, auth: async () => {}, maxUploadBytes: MAX_UPLOAD, maxFieldBytes: MAX_FIELD });
    await app.listen({ host: "127.0.0.1", port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  after(async () => {
    await app.close();
  });

  test("a well-formed multipart request is dispatched (the harness works)", async () => {
    const r = await post(port, "/image-to-image", formChunks(2, 1000));
    assert.equal(r.status, 200, r.body);
    assert.equal(dispatched.length, 1);
    assert.equal(dispatched[0]!.units, 64 * 48);
    dispatched.length = 0;
  });

  test("text fields adding up past the route limit: 413 while the body streams in, nothing dispatched", async () => {
    // 30 fields of 1 MiB (each under the per-field cap) = 30 MiB against a 6 MiB limit, chunked.
    const r = await post(port, "/image-to-image", formChunks(30, MiB));
    assert.equal(r.status, 413, r.body);
    assert.match(JSON.parse(r.body).detail.msg, new RegExp(`too large.*${LIMIT} bytes`));
    // Socket buffers on both sides let some MiB past the limit through before the close lands
    // (more on a loaded machine); reading the whole 30 MiB would be the defect.
    assert.ok(r.bytesSent < LIMIT + 16 * MiB, `the server stopped reading near the limit: ${r.bytesSent} bytes were sent`);
    assert.equal(dispatched.length, 0);
  });

  test("the issue's request: 30 text fields of 16 MiB to /image-to-image, default limits: 413 at the per-field cap", async () => {
    const defaults = Fastify();
    await registerAiRoutes(defaults, { service, auth: async () => {} });
    await defaults.listen({ host: "127.0.0.1", port: 0 });
    try {
      const r = await post((defaults.server.address() as { port: number }).port, "/image-to-image", formChunks(30, 16 * MiB));
      assert.equal(r.status, 413, r.body);
      assert.match(JSON.parse(r.body).detail.msg, /padding_0/);
      // The field is refused when it ends; until then busboy keeps only its first 2 MiB.
      assert.ok(r.bytesSent < 50 * MiB + 2 * MiB, `${r.bytesSent} bytes were sent`);
      assert.equal(dispatched.length, 0);
    } finally {
      await defaults.close();
    }
  });

  test("exactly at the limit the body is read; one byte past it is 413, declared or streamed", async () => {
    const limit = LIMIT;
    // Pad with five fields (each under the field cap) so the body is exactly `limit` bytes.
    const base = formLength(5, 0);
    const fieldBytes = Math.floor((limit - base) / 5);
    const extra = limit - base - 5 * fieldBytes;
    const exact = () => {
      const chunks = [...formChunks(5, fieldBytes)];
      // Grow the last field by `extra` bytes: it sits just before its CRLF and the closing boundary.
      chunks.splice(chunks.length - 2, 0, Buffer.alloc(extra, "y"));
      return chunks;
    };
    assert.equal(exact().reduce((n, c) => n + c.length, 0), limit);
    const atLimit = await post(port, "/image-to-image", exact());
    assert.equal(atLimit.status, 200, atLimit.body);
    const oneMore = () => {
      const chunks = exact();
      chunks.splice(chunks.length - 2, 0, Buffer.from("z"));
      return chunks;
    };
    const streamed = await post(port, "/image-to-image", oneMore());
    assert.equal(streamed.status, 413, streamed.body);
    const declared = await post(port, "/image-to-image", oneMore(), { length: limit + 1 });
    assert.equal(declared.status, 413, declared.body);
    // Refused from the header alone (how many bytes the client got to send first depends on socket buffers).
    assert.match(declared.body, /Content-Length is \d+ bytes/, "a declared length over the limit is refused before the body is read");
    assert.equal(dispatched.length, 1, "only the request at the limit was dispatched");
    dispatched.length = 0;
  });

  test("a client that keeps sending after its 413 is disconnected after at most 16 MiB more", async () => {
    const sock = connect(port, "127.0.0.1");
    let written = 0;
    let answer = "";
    sock.on("data", (d) => (answer += d.toString("latin1")));
    sock.on("error", () => {});
    const closed = new Promise<void>((resolve) => sock.on("close", () => resolve()));
    sock.write(`POST /image-to-image HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: 500000000\r\n\r\n`);
    const chunk = Buffer.alloc(256 * 1024, "x");
    let open = true;
    void closed.then(() => (open = false));
    while (open && written < 500_000_000) {
      written += chunk.length;
      if (!sock.write(chunk)) await new Promise((r) => { sock.once("drain", r); sock.once("close", r); });
    }
    await closed;
    assert.match(answer, /^HTTP\/1\.1 413/);
    assert.ok(written < 16 * MiB + 16 * MiB, `${written} bytes were written before the connection was closed`);
  });

  test("an unterminated multipart part is a 400 in the SDK's shape", async () => {
    const r = await app.inject({
      method: "POST", url: "/image-to-image",
      headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
      payload: Buffer.concat([fileHead("image"), PNG, CRLF, fieldHead("prompt"), Buffer.from("no end in sight")]),
    });
    assert.equal(r.statusCode, 400, r.body);
    assert.match(r.json().detail.msg, /malformed multipart body/);
    assert.equal(dispatched.length, 0);
  });

  test("multipart/form-data without a boundary is a 400 in the SDK's shape", async () => {
    const r = await app.inject({
      method: "POST", url: "/image-to-image",
      headers: { "content-type": "multipart/form-data" },
      payload: Buffer.concat([fileHead("image"), PNG, CRLF, END]),
    });
    assert.equal(r.statusCode, 400, r.body);
    assert.match(r.json().detail.msg, /boundary/i);
    assert.equal(dispatched.length, 0);
  });

  test("JSON nested deeper than 32 levels is a 400 naming the field (a form's JSON field, a JSON body's field)", async () => {
    let deep = "1";
    for (let i = 0; i < 4_100; i++) deep = `[${deep}]`;
    const sam = await app.inject({
      method: "POST", url: "/segment-anything-2",
      headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
      payload: Buffer.concat([fileHead("image"), PNG, CRLF, fieldHead("mask_input"), Buffer.from(deep), CRLF, END]),
    });
    assert.equal(sam.statusCode, 400, sam.body.slice(0, 300));
    assert.match(sam.json().detail.msg, /mask_input.*deeper than 32 levels/);
    const t2i = await app.inject({
      method: "POST", url: "/text-to-image",
      headers: { "content-type": "application/json" },
      payload: `{"prompt":"x","params":${deep.replaceAll("[", '{"a":').replaceAll("]", "}")}}`,
    });
    assert.equal(t2i.statusCode, 400, t2i.body.slice(0, 300));
    assert.match(t2i.json().detail.msg, /params.*deeper than 32 levels/);
    assert.equal(dispatched.length, 0);
  });
});
