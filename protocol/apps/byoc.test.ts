// BYOC wire helpers (pure): a job token as go's encoding/json writes byoc.JobToken, read and written
// back; the token's refusals; the signed job header (go's JobRequest keys) both ways; the job
// signature personal_sign(keccak256(request + parameters)); what the signer refuses to sign as a job.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  byocJobSigningRefusal,
  encodeJobSender,
  encodeSignedJob,
  jobSignedMessage,
  jobTokenJson,
  parseJobSender,
  parseJobToken,
  parseSignedJob,
  type JobToken,
  type SignedJobRequest,
} from "./byoc.ts";
import { checksumAddress, sameAddress } from "../payments/address.ts";
import { personalSign, recoverPersonalSigner, secretKeySigner, verifyPersonalSignature } from "../payments/personal-sign.ts";
import { MAX_BYOC_JOB_SIGNED_BYTES, WireShapeError } from "../payments/remote-signer-wire.ts";

const KEY = new Uint8Array(32).fill(0x11);
const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

describe("job token", () => {
  // As go's orchestrator answers GET /process/token: protobuf bytes as standard base64, int64 as numbers.
  const recipient = bytes(20, 0xab);
  const faceValue = new Uint8Array([0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x64, 0x00, 0x00]); // 1e18
  const winProb = new Uint8Array([0xff, 0xfe, 0x00, 0x01]);
  const randHash = bytes(32, 0x7f);
  const seed = bytes(32, 0xfb); // base64 of this holds '+' and '/': standard, not URL-safe
  const goToken = {
    sender_address: { addr: "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A", sig: "0x" + "ab".repeat(65) },
    ticket_params: {
      recipient: b64(recipient),
      face_value: b64(faceValue),
      win_prob: b64(winProb),
      recipient_rand_hash: b64(randHash),
      seed: b64(seed),
      expiration_block: b64(new Uint8Array([0x01, 0x2c])),
      expiration_params: { creation_round: 3512, creation_round_block_hash: b64(bytes(32, 0x22)) },
    },
    balance: 123456,
    price: { pricePerUnit: 1000, pixelsPerUnit: 1 },
    service_addr: "https://orch.example:8935",
    available_capacity: 3,
    LastNonce: 0,
  };

  test("parseJobToken reads go's JSON: bytes decoded, int64s as numbers, balance as bigint", () => {
    assert.ok(b64(seed).includes("+") || b64(seed).includes("/"));
    const t = parseJobToken(JSON.parse(JSON.stringify(goToken)));
    assert.deepEqual(t.senderAddress, goToken.sender_address);
    assert.deepEqual(t.ticketParams?.recipient, recipient);
    assert.deepEqual(t.ticketParams?.faceValue, faceValue);
    assert.deepEqual(t.ticketParams?.winProb, winProb);
    assert.deepEqual(t.ticketParams?.recipientRandHash, randHash);
    assert.deepEqual(t.ticketParams?.seed, seed);
    assert.deepEqual(t.ticketParams?.expirationBlock, new Uint8Array([0x01, 0x2c]));
    assert.equal(t.ticketParams?.expirationParams?.creationRound, 3512);
    assert.deepEqual(t.ticketParams?.expirationParams?.creationRoundBlockHash, bytes(32, 0x22));
    assert.equal(t.balance, 123456n);
    assert.deepEqual(t.price, { pricePerUnit: 1000, pixelsPerUnit: 1 });
    assert.equal(t.serviceAddr, "https://orch.example:8935");
    assert.equal(t.availableCapacity, 3);
  });

  test("go's omitempty: a token with only a price and a service address has zero balance and capacity", () => {
    const t = parseJobToken({ price: { pricePerUnit: 5, pixelsPerUnit: 1 }, service_addr: "https://o", LastNonce: 0 });
    assert.equal(t.balance, 0n);
    assert.equal(t.availableCapacity, 0);
    assert.equal(t.ticketParams, undefined);
    assert.equal(t.senderAddress, undefined);
  });

  test("jobTokenJson writes go's keys, leaves zero values out, and parseJobToken reads it back", () => {
    const t: JobToken = parseJobToken(goToken);
    const wire = JSON.parse(JSON.stringify(jobTokenJson(t))) as Record<string, unknown>;
    assert.deepEqual(wire, goToken, "the same JSON go writes");
    assert.deepEqual(parseJobToken(wire), t);
    const bare = jobTokenJson({ balance: 0n, serviceAddr: "https://o", availableCapacity: 0 });
    assert.deepEqual(JSON.parse(JSON.stringify(bare)), { service_addr: "https://o", LastNonce: 0 });
  });

  test("a balance past 2^53 wei is read as the number JSON gives (a lower bound), and written as the largest exact one", () => {
    assert.equal(parseJobToken(JSON.parse('{"balance": 9007199254740993}')).balance, 9007199254740992n);
    assert.equal(parseJobToken(JSON.parse('{"balance": -5}')).balance, -5n);
    assert.throws(() => parseJobToken({ balance: 1.5 }), WireShapeError);
    const big = jobTokenJson({ balance: 10n ** 18n, serviceAddr: "https://o", availableCapacity: 1 });
    assert.equal(big.balance, Number.MAX_SAFE_INTEGER);
    assert.equal(parseJobToken(JSON.parse(JSON.stringify(big))).balance, BigInt(Number.MAX_SAFE_INTEGER));
  });

  test("parseJobToken refuses what is not a token, with WireShapeError", () => {
    const refused = (v: unknown, why: string) => assert.throws(() => parseJobToken(v), WireShapeError, why);
    for (const v of [null, undefined, "token", 5, [goToken]]) refused(v, `non-object ${JSON.stringify(v)}`);
    refused({ ...goToken, ticket_params: { ...goToken.ticket_params, recipient: "not base64!" } }, "bad base64");
    refused({ ...goToken, ticket_params: { ...goToken.ticket_params, seed: b64(seed).replace(/\+|\//g, "-") } }, "URL-safe base64");
    refused({ ...goToken, ticket_params: "params" }, "ticket_params a string");
    // Shapes no signer can make tickets of (it would answer 400, and Wharf would take its signer for down).
    refused({ ...goToken, ticket_params: { ...goToken.ticket_params, recipient: b64(bytes(19, 1)) } }, "a 19-byte recipient");
    refused({ ...goToken, ticket_params: { ...goToken.ticket_params, recipient_rand_hash: b64(bytes(31, 1)) } }, "a 31-byte rand hash");
    refused({ ...goToken, ticket_params: { ...goToken.ticket_params, face_value: b64(bytes(33, 1)) } }, "a face value past 256 bits");
    refused({ ...goToken, ticket_params: { ...goToken.ticket_params, face_value: b64(bytes(4, 0)) } }, "a zero face value");
    refused({ ...goToken, ticket_params: { ...goToken.ticket_params, win_prob: undefined } }, "no win probability");
    refused({ ...goToken, price: { pricePerUnit: -1, pixelsPerUnit: 1 } }, "negative price");
    refused({ ...goToken, price: { pricePerUnit: 1000, pixelsPerUnit: 0 } }, "price over zero units");
    refused({ ...goToken, balance: 1.5 }, "non-integer balance");
    refused({ ...goToken, balance: "100" }, "balance as a string");
    refused({ ...goToken, available_capacity: 2.5 }, "non-integer capacity");
    refused({ ...goToken, service_addr: 42 }, "service_addr a number");
  });
});

describe("job sender and signed job headers", () => {
  test("encodeJobSender / parseJobSender round trip; a missing or garbled header is refused", () => {
    const s = { addr: "0x" + "12".repeat(20), sig: "0x" + "34".repeat(65) };
    const h = encodeJobSender(s);
    assert.deepEqual(JSON.parse(Buffer.from(h, "base64").toString("utf8")), s);
    assert.deepEqual(parseJobSender(h), s);
    assert.throws(() => parseJobSender(undefined), WireShapeError);
    assert.throws(() => parseJobSender("%%%"), WireShapeError);
    assert.throws(() => parseJobSender(Buffer.from(JSON.stringify({ addr: s.addr })).toString("base64")), WireShapeError);
  });

  const job: SignedJobRequest = { id: "a1b2", request: '{"run":"x"}', parameters: '{"orchestrators":{}}', capability: "echo-box", sender: "0x" + "12".repeat(20), sig: "0x" + "56".repeat(65), timeout_seconds: 30 };

  test("encodeSignedJob writes base64 JSON with go's JobRequest keys, in go's order", () => {
    const o = JSON.parse(Buffer.from(encodeSignedJob(job), "base64").toString("utf8")) as Record<string, unknown>;
    assert.deepEqual(Object.keys(o).slice(0, 8), ["id", "request", "parameters", "capability", "capability_url", "sender", "sig", "timeout_seconds"]);
    assert.equal(o.capability_url, "");
    assert.equal(o.timeout_seconds, 30);
    assert.equal(o.request, job.request, "request stays a JSON string, not an object");
    assert.equal(o.parameters, job.parameters);
  });

  test("parseSignedJob reads encodeSignedJob back; a missing or non-JSON header is refused", () => {
    assert.deepEqual(parseSignedJob(encodeSignedJob(job)), job);
    assert.throws(() => parseSignedJob(undefined), WireShapeError);
    assert.throws(() => parseSignedJob(Buffer.from("not json").toString("base64")), WireShapeError);
    assert.throws(() => parseSignedJob(Buffer.from("null").toString("base64")), WireShapeError);
    const noTimeout = parseSignedJob(Buffer.from(JSON.stringify({ ...job, timeout_seconds: "30" })).toString("base64"));
    assert.equal(noTimeout.timeout_seconds, 0, "a timeout that is not an integer is none");
  });
});

describe("job signature", () => {
  test("jobSignedMessage is keccak-256 (not SHA3-256) of request + parameters", () => {
    assert.equal(Buffer.from(jobSignedMessage("", "")).toString("hex"), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    assert.notDeepEqual(jobSignedMessage('{"a":1}', ""), jobSignedMessage('{"a":2}', ""));
  });

  test("a job personal-signed for request + parameters recovers to the key's address, and not once parameters change", () => {
    const signer = secretKeySigner(KEY);
    const request = '{"x":1}';
    const parameters = '{"orchestrators":{}}';
    const sig = personalSign(jobSignedMessage(request, parameters), KEY);
    assert.equal(checksumAddress(recoverPersonalSigner(jobSignedMessage(request, parameters), sig)), checksumAddress(signer.address));
    assert.ok(verifyPersonalSignature(signer.address, jobSignedMessage(request, parameters), sig));
    const changed = '{"orchestrators":{ }}';
    assert.ok(!verifyPersonalSignature(signer.address, jobSignedMessage(request, changed), sig));
    assert.ok(!sameAddress(recoverPersonalSigner(jobSignedMessage(request, changed), sig), signer.address));
  });
});

describe("byocJobSigningRefusal", () => {
  test("accepts a JSON object request with empty or JSON parameters", () => {
    assert.equal(byocJobSigningRefusal('{"a":1}', ""), undefined);
    assert.equal(byocJobSigningRefusal('{"a":1}', '{"orchestrators":{}}'), undefined);
  });

  test("refuses NUL, a request that is not a JSON object, parameters that are not JSON, non-strings and oversize input", () => {
    const refused = (request: unknown, parameters: unknown, pattern: RegExp) => {
      const why = byocJobSigningRefusal(request, parameters);
      assert.ok(why, `${JSON.stringify(request)} / ${JSON.stringify(parameters)} accepted`);
      assert.match(why, pattern);
    };
    refused('{"a":"\0"}', "", /NUL/);
    refused('{"a":1}', '{"b":"\0"}', /NUL/);
    refused("[1]", "", /not a JSON object/);
    refused("5", "", /not a JSON object/);
    refused("null", "", /not a JSON object/);
    refused("{not json", "", /not a JSON object/);
    refused('{"a":1}', "{params", /not JSON/);
    refused({ a: 1 }, "", /expected/);
    refused('{"a":1}', undefined, /expected/);
    refused(`{"a":"${"x".repeat(MAX_BYOC_JOB_SIGNED_BYTES)}"}`, "", /exceed/);
    // Bytes, not characters: 3-byte characters past the limit in bytes, under it in length.
    const wide = "€".repeat(Math.ceil(MAX_BYOC_JOB_SIGNED_BYTES / 3));
    assert.ok(wide.length < MAX_BYOC_JOB_SIGNED_BYTES);
    refused(`{"a":"${wide}"}`, "", /exceed/);
  });
});
