// The HTTP server's request timeout (real server and client on 127.0.0.1): a request whose body
// does not arrive in time is answered 408 with a JSON body; one whose answer is already streaming
// (a relay answering while its client still uploads) only has its connection closed, so no status
// line lands inside that answer.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { createApp } from "./app.ts";

let app: FastifyInstance;
let port: number;

before(async () => {
  app = await createApp({ requestTimeoutMs: 1000 });
  app.post("/echo", async (req) => ({ got: req.body }));
  // Answers at once and streams, without waiting for the request's body.
  app.post("/stream", { preParsing: async (req, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { "content-type": "text/plain" });
    reply.raw.write("first part\n");
    return req.raw; // its body keeps coming
  } }, async () => undefined);
  await app.listen({ port: 0, host: "127.0.0.1" });
  port = (app.server.address() as AddressInfo).port;
});
after(() => app.close());

/** Sends a head and part of a body, never the rest; resolves with all that came back when the server closes. */
function slowUpload(path: string): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = connect(port, "127.0.0.1", () => s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":`));
    let text = "";
    const give = setTimeout(() => s.destroy(), 8000);
    s.on("data", (d) => (text += d));
    s.on("close", () => {
      clearTimeout(give);
      resolve({ text, ms: Date.now() - t0 });
    });
    s.on("error", reject);
  });
}

test("a body that does not arrive in time: 408 with a JSON body, and the connection closed", async () => {
  const { text, ms } = await slowUpload("/echo");
  assert.match(text, /^HTTP\/1.1 408 Request Timeout\r\n/);
  assert.deepEqual(JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4)).error, "request_timeout");
  assert.ok(ms < 5000, `closed after ${ms} ms`);
});

test("a request whose answer is already streaming is only closed when it times out: no 408 inside the answer", async () => {
  const { text, ms } = await slowUpload("/stream");
  assert.match(text, /^HTTP\/1.1 200 OK\r\n/);
  assert.match(text, /first part/);
  assert.doesNotMatch(text, /408/);
  assert.ok(ms < 5000, `closed after ${ms} ms`);
});
