import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeStdBase64, parseRemotePaymentResponse, parseSignerState, signerErrorBody, signerErrorMessage, WireShapeError } from "./remote-signer-wire.ts";

test("base64 is decoded strictly (standard alphabet, padded), as Go's encoding/json []byte", () => {
  assert.deepEqual([...decodeStdBase64("AQID")!], [1, 2, 3]);
  assert.equal(decodeStdBase64("AQI"), undefined);
  assert.equal(decodeStdBase64("A-_="), undefined);
  assert.equal(decodeStdBase64("")?.length, 0);
});

test("a state must be {State, Sig} in base64", () => {
  assert.deepEqual(parseSignerState({ State: "e30=", Sig: "AAAA" }), { State: "e30=", Sig: "AAAA" });
  for (const bad of [undefined, {}, { State: "e30=" }, { State: "not base64!", Sig: "AAAA" }, { State: "", Sig: "" }]) {
    assert.throws(() => parseSignerState(bad), WireShapeError);
  }
});

test("a payment answer needs a payment and a state; segCreds is optional", () => {
  assert.deepEqual(parseRemotePaymentResponse({ payment: "AQID", state: { State: "e30=", Sig: "AAAA" } }), { payment: "AQID", state: { State: "e30=", Sig: "AAAA" } });
  assert.throws(() => parseRemotePaymentResponse({ payment: "AQID" }), WireShapeError);
  assert.throws(() => parseRemotePaymentResponse({ payment: "AQID", segCreds: 5, state: { State: "e30=", Sig: "AAAA" } }), WireShapeError);
});

test("error bodies are {error: {message}}", () => {
  assert.equal(signerErrorMessage(signerErrorBody("no tickets")), "no tickets");
  assert.equal(signerErrorMessage({ error: "x" }), undefined);
});
