// Reading a request's body: bounded, and settled even when the client left before the read began.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { readRequestBody, RequestBodyTooLargeError } from "./request-body.ts";

async function serve(handler: (read: () => Promise<Buffer>) => Promise<void>) {
  const outcomes: Array<Promise<unknown>> = [];
  const server = createServer((req, res) => {
    const outcome = handler(() => readRequestBody(req, 1000)).then(() => res.end("ok"));
    outcomes.push(outcome.catch((e: Error) => e));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    outcomes,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

test("a body is read whole; past the limit it is a RequestBodyTooLargeError", async () => {
  const results: Array<Buffer | Error> = [];
  const s = await serve(async (read) => void results.push(await read().catch((e: Error) => e)));
  for (const body of ["hello", "x".repeat(5000)]) {
    const res = await fetch(`http://127.0.0.1:${s.port}/`, { method: "POST", body });
    await res.text();
  }
  assert.equal(String(results[0]), "hello");
  assert.ok(results[1] instanceof RequestBodyTooLargeError);
  s.close();
});

test("a client that left while the server awaited something else: the read rejects at once instead of never settling", async () => {
  const s = await serve(async (read) => {
    await new Promise((r) => setTimeout(r, 150)); // e.g. authentication
    await read();
  });
  const req = request({ port: s.port, method: "POST", headers: { "content-length": "100" } });
  req.on("error", () => {});
  req.write("partial");
  await new Promise((r) => setTimeout(r, 50));
  req.destroy();
  await new Promise((r) => setTimeout(r, 50));
  const outcome = await Promise.race([s.outcomes[0], new Promise((r) => setTimeout(() => r("never settled"), 1500))]);
  s.close();
  assert.ok(outcome instanceof Error, `outcome: ${String(outcome)}`);
  assert.match((outcome as Error).message, /went away/);
});
