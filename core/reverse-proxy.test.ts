// The headers a proxied request and a relayed answer go out with.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { answerHeaders, forwardHeaders } from "./reverse-proxy.ts";

test("an answer's headers lose hop-by-hop fields; a Vary set before the relay is kept next to the answer's own", () => {
  const upstream = { "content-type": "application/json", connection: "keep-alive", "transfer-encoding": "chunked", vary: "Accept-Encoding" };
  assert.deepEqual(answerHeaders(upstream), { "content-type": "application/json", vary: "Accept-Encoding" });
  const res = { getHeader: (name: string) => (name === "vary" ? "Origin" : undefined) } as unknown as ServerResponse;
  assert.equal(answerHeaders(upstream, res).vary, "Origin, Accept-Encoding", "CORS's Vary: Origin survives the answer's Vary");
  assert.equal(answerHeaders({ "content-type": "text/plain" }, res).vary, undefined, "no Vary in the answer: the one set stays on the response");
});

test("a forwarded request loses hop-by-hop fields and those its Connection header names; extra headers replace or remove (any case); omitted ones stay out", () => {
  const incoming = { host: "wharf", authorization: "Bearer k", "content-type": "application/json", "content-length": "2", connection: "keep-alive", "x-trace": "1", "x-secret-hop": "s" };
  assert.deepEqual(forwardHeaders(incoming, { authorization: undefined }), { "content-type": "application/json", "content-length": "2", "x-trace": "1", "x-secret-hop": "s" });
  assert.deepEqual(forwardHeaders({ ...incoming, connection: "keep-alive, X-Secret-Hop" }, { "X-Trace": "2", Authorization: undefined }, new Set(["content-length"])), { "content-type": "application/json", "x-trace": "2" });
});
