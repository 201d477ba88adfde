// Starting a live-video-to-video session at an orchestrator (a real HTTP server on 127.0.0.1): the
// channel URLs of its answer are resolved against the orchestrator; an answer whose URLs are not
// http(s), or that is far bigger than any start answer, is refused as a failed start.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { LiveStartError, requestLiveSession } from "./orchestrator-session.ts";

let answer: () => string;
let server: Server;
let base: string;

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end(answer()));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const start = () =>
  requestLiveSession({ address: base, transcoder: base, authToken: { token: new Uint8Array(4), sessionId: "s", expiration: 0 }, pricePerPixelWei: 0 }, { modelId: "m", params: {}, streamId: "st", requestId: "r" });
const urls = (publish: string) => JSON.stringify({ publish_url: publish, subscribe_url: "/ai/trickle/s-out", control_url: "/ai/trickle/s-control", events_url: "/ai/trickle/s-events", manifest_id: "m1" });

test("relative channel URLs are resolved against the orchestrator", async () => {
  answer = () => urls("/ai/trickle/s");
  const u = await start();
  assert.equal(u.publishUrl, `${base}/ai/trickle/s`);
  assert.equal(u.eventsUrl, `${base}/ai/trickle/s-events`);
  assert.equal(u.manifestId, "m1");
});

test("a channel URL that is not http(s) is a failed start (no session is made to be paid for)", async () => {
  for (const bad of ["rtmp://127.0.0.1/live/x", "file:///etc/passwd", "javascript:alert(1)"]) {
    answer = () => urls(bad);
    await assert.rejects(start(), (err: unknown) => err instanceof LiveStartError && /publish_url is not an http\(s\) URL/.test(err.message), bad);
  }
});

test("a start answer far bigger than any real one is cut off and refused", async () => {
  answer = () => JSON.stringify({ pad: "x".repeat(1024 * 1024), ...JSON.parse(urls("/ai/trickle/s")) });
  await assert.rejects(start(), (err: unknown) => err instanceof LiveStartError && /over 65536 bytes/.test(err.message));
});
