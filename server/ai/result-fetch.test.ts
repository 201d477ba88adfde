// Downloading results from an orchestrator-like HTTP server on 127.0.0.1: small ones into
// memory, large ones (declared or not) as streams, retries on 5xx, none on 4xx.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Agent } from "undici";
import { fetchResult } from "./result-fetch.ts";

// PNG signature + IHDR (64x64, 8-bit RGB): enough for the type to be sniffed.
const PNG_HEAD = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
  Buffer.from("IHDR"),
  Buffer.from([0, 0, 0, 64, 0, 0, 0, 64, 8, 2, 0, 0, 0, 0, 0, 0, 0]),
]);
const bigPng = Buffer.concat([PNG_HEAD, Buffer.alloc(300 * 1024, 1)]);

test("fetchResult: memory, streams (with and without a length), retries", async () => {
  let flaky = 0;
  const server = createServer((req, res) => {
    if (req.url === "/small.png") return res.writeHead(200, { "content-type": "image/png" }).end(PNG_HEAD);
    if (req.url === "/big-declared") return res.writeHead(200, { "content-type": "video/mp4", "content-length": bigPng.length }).end(bigPng);
    if (req.url === "/big-chunked") {
      res.writeHead(200); // no type, no length
      for (let i = 0; i < bigPng.length; i += 16 * 1024) res.write(bigPng.subarray(i, i + 16 * 1024));
      return res.end();
    }
    if (req.url === "/flaky") return flaky++ < 1 ? res.writeHead(500).end("try again") : res.writeHead(200, { "content-type": "image/png" }).end(PNG_HEAD);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dispatcher = new Agent();
  const opts = { dispatcher, timeoutMs: 5000, memoryItemBytes: 64 * 1024, maxItemBytes: 1 << 20 };
  const drain = async (s: AsyncIterable<Uint8Array>) => {
    const parts: Buffer[] = [];
    for await (const c of s) parts.push(Buffer.from(c));
    return Buffer.concat(parts);
  };
  try {
    const small = await fetchResult(new URL(`${base}/small.png`), opts);
    assert.ok("data" in small);
    assert.equal(small.contentType, "image/png");

    const declared = await fetchResult(new URL(`${base}/big-declared`), opts);
    assert.ok("stream" in declared);
    assert.equal(declared.contentType, "video/mp4");
    assert.deepEqual(await drain(declared.stream), bigPng);

    const chunked = await fetchResult(new URL(`${base}/big-chunked`), opts);
    assert.ok("stream" in chunked, "a body growing past memoryItemBytes is streamed");
    assert.equal(chunked.contentType, "image/png", "type sniffed from the first bytes");
    assert.deepEqual(await drain(chunked.stream), bigPng);

    const retried = await fetchResult(new URL(`${base}/flaky`), opts);
    assert.ok("data" in retried);
    assert.equal(flaky, 2);

    const t0 = performance.now();
    await assert.rejects(fetchResult(new URL(`${base}/gone`), opts), /answered 404/);
    assert.ok(performance.now() - t0 < 90, "a 4xx is not retried");
  } finally {
    await dispatcher.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
