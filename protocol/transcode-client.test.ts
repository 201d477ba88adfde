// The gateway's /segment client against a tiny misbehaving HTTP server:
// every bad answer must become a typed TranscodeError, never a crash or a hang.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { closeOrchestratorDispatchers } from "./http-agent.ts";
import { encodeMessage } from "./messages.ts";
import { PRESETS } from "./profiles.ts";
import { parseSegmentHeader } from "./segment-header.ts";
import { TranscodeError, transcodeSegment, uploadTimeoutMs, totalTimeoutMs, type TranscodeErrorKind } from "./transcode-client.ts";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;
let handler: Handler = (_q, res) => res.end();
let server: http.Server;
let base = "";
let deadPort = 0;

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handler(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tmp = http.createServer();
  await new Promise<void>((r) => tmp.listen(0, "127.0.0.1", r));
  deadPort = (tmp.address() as AddressInfo).port;
  await new Promise<void>((r) => tmp.close(() => r()));
});
after(async () => {
  server.closeAllConnections();
  server.close();
  await closeOrchestratorDispatchers();
});

const P144 = PRESETS.P144p30fps16x9!;
const P240 = PRESETS.P240p30fps16x9!;
const call = (over: Partial<Parameters<typeof transcodeSegment>[0]> = {}) =>
  transcodeSegment({
    transcoder: base,
    authToken: { token: Buffer.from("t"), sessionId: "s", expiration: 1 },
    manifestId: "m",
    seq: 5,
    data: Buffer.from("fake ts bytes"),
    durationMs: 2000,
    profiles: [P144, P240],
    ...over,
  });

async function expectKind(p: Promise<unknown>, kind: TranscodeErrorKind, re?: RegExp): Promise<TranscodeError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof TranscodeError, `expected TranscodeError(${kind}), got ${String(caught)}`);
  assert.equal(caught.kind, kind, caught.message);
  if (re) assert.match(caught.message, re);
  return caught;
}

const ok = (res: http.ServerResponse, payload: Buffer) => res.writeHead(200, { "content-type": "application/octet-stream" }).end(payload);

test("timeouts follow go-livepeer", () => {
  assert.equal(uploadTimeoutMs(2000), 2000);
  assert.equal(uploadTimeoutMs(10_000), 5000);
  assert.equal(totalTimeoutMs(1000), 8000);
  assert.equal(totalTimeoutMs(4000), 16_000);
});

test("a good result: headers sent, renditions downloaded in profile order", async () => {
  let seen: { segment?: string; payment?: string; type?: string } = {};
  handler = (req, res) => {
    if (req.url === "/segment") {
      seen = { segment: req.headers["livepeer-segment"] as string, payment: req.headers["livepeer-payment"] as string, type: req.headers["content-type"] };
      ok(res, encodeMessage("TranscodeResult", { seq: 5, data: { segments: [{ url: `${base}/stream/a.ts`, pixels: 10 }, { url: "/stream/b.ts", pixels: 20 }] } }));
    } else res.end(req.url === "/stream/a.ts" ? "AAAA" : "BB");
  };
  const r = await call();
  assert.equal(seen.payment, "");
  assert.equal(seen.type, "video/MP2T");
  assert.equal(parseSegmentHeader(seen.segment!).seq, 5);
  assert.deepEqual(r.renditions.map((x) => [x.profile.name, x.data?.toString(), x.pixels]), [["P144p30fps16x9", "AAAA", 10], ["P240p30fps16x9", "BB", 20]]);
  assert.equal(r.renditions[1]!.url, `${base}/stream/b.ts`, "relative URLs resolve against the service URL");
});

test("non-protobuf body -> bad-result", async () => {
  handler = (_q, res) => ok(res, Buffer.from("<html><body>502 Bad Gateway</body></html>"));
  await expectKind(call(), "bad-result");
});

test("wrong seq / wrong rendition count / neither error nor data -> bad-result", async () => {
  handler = (_q, res) => ok(res, encodeMessage("TranscodeResult", { seq: 6, data: { segments: [{ url: "/a" }, { url: "/b" }] } }));
  await expectKind(call(), "bad-result", /seq 6, expected 5/);
  handler = (_q, res) => ok(res, encodeMessage("TranscodeResult", { seq: 5, data: { segments: [{ url: "/a" }] } }));
  await expectKind(call(), "bad-result", /1 renditions, expected 2/);
  handler = (_q, res) => ok(res, encodeMessage("TranscodeResult", { seq: 5 }));
  await expectKind(call(), "bad-result", /neither/);
});

test("TranscodeResult errors: OrchestratorBusy -> busy (not a fault), others -> transcode-failed", async () => {
  handler = (_q, res) => ok(res, encodeMessage("TranscodeResult", { seq: 5, error: "OrchestratorBusy" }));
  const busy = await expectKind(call(), "busy");
  assert.equal(busy.isFault, false);
  handler = (_q, res) => ok(res, encodeMessage("TranscodeResult", { seq: 5, error: "OrchestratorCapped" }));
  await expectKind(call(), "capped");
  handler = (_q, res) => ok(res, encodeMessage("TranscodeResult", { seq: 5, error: "ffmpeg exploded" }));
  const failed = await expectKind(call(), "transcode-failed", /ffmpeg exploded/);
  assert.equal(failed.isFault, true);
});

test("HTTP statuses: 403 auth, 402 payment, 503 busy, 500 transcode-failed, 404 rejected", async () => {
  const cases: Array<[number, string, TranscodeErrorKind]> = [
    [403, "invalid AuthToken", "auth"],
    [402, "bad ticket", "payment"],
    [400, "insufficient balance", "payment"],
    [503, "insufficient capacity", "busy"],
    [500, "boom", "transcode-failed"],
    [404, "no such route", "rejected"],
  ];
  for (const [status, text, kind] of cases) {
    handler = (_q, res) => res.writeHead(status).end(text);
    const e = await expectKind(call(), kind);
    assert.equal(e.status, status);
  }
});

test("unreachable rendition URL, 404 rendition -> download; unreachable orchestrator -> network", async () => {
  handler = (req, res) => {
    if (req.url === "/segment") ok(res, encodeMessage("TranscodeResult", { seq: 5, data: { segments: [{ url: "/stream/a.ts" }, { url: `http://127.0.0.1:${deadPort}/gone.ts` }] } }));
    else res.end("AAAA");
  };
  await expectKind(call(), "download", /ECONNREFUSED/);
  handler = (req, res) => {
    if (req.url === "/segment") ok(res, encodeMessage("TranscodeResult", { seq: 5, data: { segments: [{ url: "/stream/a.ts" }, { url: "/stream/missing.ts" }] } }));
    else if (req.url === "/stream/a.ts") res.end("AAAA");
    else res.writeHead(404).end();
  };
  await expectKind(call(), "download", /404/);
  await expectKind(call({ transcoder: `http://127.0.0.1:${deadPort}` }), "network");
});

test("no answer -> timeout within the upload budget; slow body -> timeout within the total budget", async () => {
  handler = () => {}; // never answers
  const t0 = performance.now();
  await expectKind(call({ uploadTimeoutMs: 300 }), "timeout", /upload not accepted/);
  const took = performance.now() - t0;
  assert.ok(took >= 290 && took < 2000, `took ${took}`);
  handler = (_q, res) => {
    res.writeHead(200); // early 200, then nothing
    res.flushHeaders();
  };
  const t1 = performance.now();
  await expectKind(call({ uploadTimeoutMs: 300, totalTimeoutMs: 700 }), "timeout", /no result in time/);
  const took2 = performance.now() - t1;
  assert.ok(took2 >= 690 && took2 < 2500, `took ${took2}`);
});

test("caller abort -> aborted (not a fault)", async () => {
  handler = () => {};
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const e = await expectKind(call({ signal: ac.signal }), "aborted");
  assert.equal(e.isFault, false);
});
