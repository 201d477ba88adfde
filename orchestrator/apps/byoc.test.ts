// The development orchestrator's BYOC with --require-payment (an on-chain go-livepeer orchestrator):
// GET /process/token checks the sender's address signature and answers ticket params, the price
// and capacity; POST /process/request/* checks the job's timeout and signature, then refuses a
// sender whose balance holds less than a minute of the price, before the container is reached.
// (Paying with real tickets: test/e2e/apps.test.ts.)
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startOrchestratorProcess, type OrchestratorProcess } from "../../test/support/orchestrator.ts";
import { startExampleRunner, type ExampleRunner } from "../example-runner/main.ts";
import { encodeJobSender, encodeSignedJob, jobSignedMessage, type SignedJobRequest } from "../../protocol/apps/byoc.ts";
import { checksumAddress, toHex0x } from "../../protocol/payments/address.ts";
import { signOrchestratorRequest } from "../../protocol/payments/orchestrator-request-sig.ts";
import { secretKeySigner, type MessageSigner } from "../../protocol/payments/personal-sign.ts";

const alice = secretKeySigner(new Uint8Array(32).fill(0x22));
const mallory = secretKeySigner(new Uint8Array(32).fill(0x33));
const addr = (s: MessageSigner) => checksumAddress(s.address);
const senderHeader = (s: MessageSigner, sigBy: MessageSigner = s) => encodeJobSender({ addr: addr(s), sig: toHex0x(signOrchestratorRequest(sigBy)) });

/** A job header for `sender`, its signature made by `sigBy`. */
function jobHeader(sender: MessageSigner, capability: string, over: Partial<SignedJobRequest> = {}, sigBy: MessageSigner = sender): string {
  const request = over.request ?? '{"run":"x"}';
  const parameters = over.parameters ?? "";
  return encodeSignedJob({ id: "job-1", request, parameters, capability, sender: addr(sender), sig: toHex0x(sigBy.sign(jobSignedMessage(request, parameters))), timeout_seconds: 30, ...over });
}

describe("development orchestrator: BYOC with --require-payment", { timeout: 90_000 }, () => {
  let runner: ExampleRunner;
  let orch: OrchestratorProcess;
  let reached = 0;

  const register = async (name: string, price: number) => {
    const res = await fetch(`${orch.url}/capability/register`, { method: "POST", headers: { authorization: "s3cret" }, body: JSON.stringify({ name, url: runner.url, capacity: 1, price_per_unit: price, price_scaling: 1, currency: "wei" }) });
    assert.equal(res.status, 200, await res.text());
  };
  const token = async (headers: Record<string, string>) => {
    const res = await fetch(`${orch.url}/process/token`, { headers });
    return { status: res.status, text: await res.text() };
  };
  const job = async (header: string, extra: Record<string, string> = {}) => {
    const res = await fetch(`${orch.url}/process/request/v1/json`, { method: "POST", headers: { Livepeer: header, "content-type": "application/json", ...extra }, body: JSON.stringify({ prompt: "hi" }) });
    return { status: res.status, text: await res.text() };
  };

  before(async () => {
    runner = await startExampleRunner({ name: "byoc-runner" });
    runner.server.on("request", () => reached++);
    orch = await startOrchestratorProcess(["--no-ai", "--no-live", "--require-payment", "--orch-secret", "s3cret"], { http: true });
    await register("paid-box", 1000);
    await register("free-box", 0);
  });
  after(async () => {
    await Promise.allSettled([orch?.kill(), runner?.close()]);
  });

  test("registering without the orchSecret is go's 400 'invalid authorization'", async () => {
    const res = await fetch(`${orch.url}/capability/register`, { method: "POST", headers: { authorization: "wrong" }, body: JSON.stringify({ name: "x", url: runner.url, capacity: 1, price_per_unit: 0 }) });
    assert.equal(res.status, 400);
    assert.equal(await res.text(), "invalid authorization\n");
  });

  test("GET /process/token without Livepeer-Eth-Address is a 400", async () => {
    const r = await token({ "Livepeer-Capability": "paid-box" });
    assert.equal(r.status, 400);
    assert.match(r.text, /Livepeer-Eth-Address/);
  });

  test("GET /process/token with a signature that is not of the sender's address is a 400", async () => {
    const byOther = await token({ "Livepeer-Eth-Address": senderHeader(alice, mallory), "Livepeer-Capability": "paid-box" });
    assert.equal(byOther.status, 400);
    assert.match(byOther.text, /^Invalid eth address header/);
    const garbage = await token({ "Livepeer-Eth-Address": encodeJobSender({ addr: addr(alice), sig: "0x1234" }), "Livepeer-Capability": "paid-box" });
    assert.equal(garbage.status, 400);
    assert.match(garbage.text, /^Invalid eth address header/);
    const notBase64Json = await token({ "Livepeer-Eth-Address": "%%%", "Livepeer-Capability": "paid-box" });
    assert.equal(notBase64Json.status, 400);
  });

  test("GET /process/token for no capability is a 400; an unknown one gets go's token with no capacity and no price", async () => {
    const none = await token({ "Livepeer-Eth-Address": senderHeader(alice) });
    assert.equal(none.status, 400);
    assert.match(none.text, /Livepeer-Capability/);
    const unknown = await token({ "Livepeer-Eth-Address": senderHeader(alice), "Livepeer-Capability": "no-such-box" });
    assert.equal(unknown.status, 200);
    const t = JSON.parse(unknown.text) as { available_capacity?: number; price?: { pricePerUnit?: number } };
    assert.equal(t.available_capacity, undefined, "capacity 0 (left out, as go's omitempty)");
    assert.equal(t.price?.pricePerUnit, undefined, "price 0");
  });

  test("GET /process/token for a registered capability: ticket params for the sender, the price, free capacity, no balance", async () => {
    const r = await token({ "Livepeer-Eth-Address": senderHeader(alice), "Livepeer-Capability": "paid-box" });
    assert.equal(r.status, 200, r.text);
    const t = JSON.parse(r.text) as Record<string, any>;
    assert.equal(Buffer.from(t.ticket_params?.recipient ?? "", "base64").length, 20, "a 20-byte recipient, base64");
    assert.ok(Buffer.from(t.ticket_params?.face_value ?? "", "base64").length > 0, "a face value");
    assert.deepEqual(t.price, { pricePerUnit: 1000, pixelsPerUnit: 1 });
    assert.ok(t.available_capacity >= 1, String(t.available_capacity));
    assert.ok(t.balance === undefined || t.balance === 0, `no balance yet: ${t.balance}`);
    assert.equal(t.sender_address?.addr, addr(alice));
    assert.equal(t.service_addr, orch.serviceUrl);
    assert.equal(t.LastNonce, 0);
  });

  test("POST /process/request with a job signed by another key is a 400 'Could not verify job creds', the container not reached", async () => {
    const before = reached;
    const r = await job(jobHeader(alice, "paid-box", {}, mallory));
    assert.equal(r.status, 400);
    assert.equal(r.text, "Could not verify job creds\n");
    // Signed over other parameters than it carries: the same.
    const tampered = await job(encodeSignedJob({ ...JSON.parse(Buffer.from(jobHeader(alice, "free-box"), "base64").toString("utf8")), parameters: '{"x":1}' }));
    assert.equal(tampered.status, 400);
    assert.equal(tampered.text, "Could not verify job creds\n");
    assert.equal(reached, before);
  });

  test("a correctly signed job with no payment and no balance is a 400 'Insufficient balance for request'", async () => {
    const before = reached;
    const r = await job(jobHeader(alice, "paid-box"));
    assert.equal(r.status, 400);
    assert.equal(r.text, "Insufficient balance for request\n");
    assert.equal(reached, before, "the container was not reached");
    const t = JSON.parse((await token({ "Livepeer-Eth-Address": senderHeader(alice), "Livepeer-Capability": "paid-box" })).text) as { balance?: number };
    assert.ok(t.balance === undefined || t.balance === 0, "a refused job is not debited");
  });

  test("a Livepeer-Payment that is not a payment closes the connection unanswered, as go-livepeer's handler does", async () => {
    const before = reached;
    await assert.rejects(job(jobHeader(alice, "paid-box"), { "Livepeer-Payment": Buffer.from("not a protobuf payment").toString("base64") }), /fetch failed|other side closed|socket/i);
    assert.equal(reached, before, "the container was not reached");
  });

  test("timeout_seconds 0 is a 400 about timeout_seconds", async () => {
    const r = await job(jobHeader(alice, "paid-box", { timeout_seconds: 0 }));
    assert.equal(r.status, 400);
    assert.match(r.text, /timeout_seconds/);
  });

  test("a job for an unknown capability is go's 503 'No capacity available for capability'; an unreadable header a creds 400", async () => {
    const unknown = await job(jobHeader(alice, "no-such-box"));
    assert.equal(unknown.status, 503);
    assert.equal(unknown.text, "No capacity available for capability\n");
    const garbled = await job("%%%");
    assert.equal(garbled.status, 400);
  });

  test("a free capability still wants the job signed, and then answers the container's reply without payment", async () => {
    const bad = await job(jobHeader(alice, "free-box", {}, mallory));
    assert.equal(bad.status, 400);
    const ok = await job(jobHeader(alice, "free-box"));
    assert.equal(ok.status, 200, ok.text);
    const body = JSON.parse(ok.text) as { runner: string; path: string; echo: unknown };
    assert.equal(body.runner, "byoc-runner");
    assert.equal(body.path, "/v1/json");
    assert.deepEqual(body.echo, { prompt: "hi" });
  });
});
