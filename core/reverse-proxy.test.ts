// The headers a relayed answer goes out with.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { answerHeaders } from "./reverse-proxy.ts";

test("an answer's headers lose hop-by-hop fields; a Vary set before the relay is kept next to the answer's own", () => {
  const upstream = { "content-type": "application/json", connection: "keep-alive", "transfer-encoding": "chunked", vary: "Accept-Encoding" };
  assert.deepEqual(answerHeaders(upstream), { "content-type": "application/json", vary: "Accept-Encoding" });
  const res = { getHeader: (name: string) => (name === "vary" ? "Origin" : undefined) } as unknown as ServerResponse;
  assert.equal(answerHeaders(upstream, res).vary, "Origin, Accept-Encoding", "CORS's Vary: Origin survives the answer's Vary");
  assert.equal(answerHeaders({ "content-type": "text/plain" }, res).vary, undefined, "no Vary in the answer: the one set stays on the response");
});
