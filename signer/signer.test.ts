// The development signer as a separate process, over HTTP(S): what a gateway (ours or the Python
// SDK) sees. Payments are made for ticket params issued by a real TicketRecipient and then
// received by it, so "the tickets verify" means what an orchestrator would check.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { decodeBase64, encodeMessage, type OrchestratorInfo } from "../protocol/messages.ts";
import { closeOrchestratorDispatchers, orchestratorDispatcher } from "../protocol/http-agent.ts";
import { parseAddress } from "../protocol/payments/address.ts";
import { orchestratorRequestSigValid } from "../protocol/payments/orchestrator-request-sig.ts";
import { generateSecretKey, secretKeySigner } from "../protocol/payments/personal-sign.ts";
import { Rational } from "../protocol/payments/rational.ts";
import { TicketRecipient } from "../protocol/payments/recipient.ts";
import { RemoteSignerClient, type LivePaymentResult } from "../protocol/payments/remote-signer-client.ts";
import { segmentCredentialsValid } from "../protocol/payments/segment-credentials.ts";
import { paymentTickets, ticketSignatureValid } from "../protocol/payments/ticket-batch.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const START_TIMEOUT_MS = 20_000;

interface SignerProcess {
  proc: ChildProcess;
  url: string;
  address: string;
  stdoutLines: () => string[];
  stop: () => Promise<void>;
}

/** Start `tsx signer/main.ts` and read its one stdout line. (signer/ may not import test/support: see .dependency-cruiser.cjs.) */
function spawnSigner(args: string[]): Promise<SignerProcess> {
  const proc = spawn(process.execPath, ["--import", "tsx", "signer/main.ts", ...args], { cwd: ROOT, env: { ...process.env, WHARF_LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (err += d));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    await new Promise((r) => proc.once("exit", r));
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`signer did not start in ${START_TIMEOUT_MS} ms: ${err}`));
    }, START_TIMEOUT_MS);
    const check = () => {
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) {
        clearTimeout(timer);
        const { listening, address } = JSON.parse(line) as { listening: string; address: string };
        resolve({ proc, url: listening, address, stdoutLines: () => out.split("\n").filter(Boolean), stop });
      }
    };
    proc.stdout!.on("data", check);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`signer exited with ${code}: ${err}`), { code, stderr: err }));
    });
  });
}

const PRICE = Rational.of(3, 1);
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "wharf-signer-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** An orchestrator that issues params for the signer (EV ~1000 wei, 3 wei per unit). */
function orchestratorFor(signerAddress: string) {
  const recipient = new TicketRecipient({ address: secretKeySigner(generateSecretKey()).address, ev: 1000n });
  const info = (price: [number, number] = [3, 1]): OrchestratorInfo => ({
    transcoder: "https://orch.test:8935",
    address: recipient.address,
    priceInfo: { pricePerUnit: price[0], pixelsPerUnit: price[1] },
    authToken: { token: Uint8Array.of(7), sessionId: "s", expiration: Math.floor(Date.now() / 1000) + 1800 },
    ticketParams: recipient.ticketParams(parseAddress(signerAddress), Rational.of(price[0], price[1]), 0n),
  });
  return { recipient, info };
}

function paid(r: LivePaymentResult): Extract<LivePaymentResult, { kind: "Paid" }> {
  assert.equal(r.kind, "Paid", JSON.stringify(r));
  return r as Extract<LivePaymentResult, { kind: "Paid" }>;
}

describe("a signer on loopback, plaintext, with fault knobs", () => {
  let signer: SignerProcess;
  let client: RemoteSignerClient;
  before(async () => {
    signer = await spawnSigner(["--port", "0", "--http", "--faults", "--data-dir", tempDir(), "--orchestrators", "http://127.0.0.1:1"]);
    client = new RemoteSignerClient({ url: signer.url, headers: { "x-api-key": "test" } });
  });
  after(() => signer.stop());

  test("prints exactly one JSON line, and its sign-orchestrator-info signature recovers to that address", async () => {
    assert.deepEqual(Object.keys(JSON.parse(signer.stdoutLines()[0]!)), ["listening", "address"]);
    const sig = await client.signOrchestratorInfo();
    assert.equal(sig.addressText, signer.address);
    assert.ok(orchestratorRequestSigValid(sig.address, sig.signature));
    assert.equal(signer.stdoutLines().length, 1);
    // go-livepeer's gateway posts no body with a JSON content type.
    const bare = await fetch(`${signer.url}/sign-orchestrator-info`, { method: "POST", headers: { "content-type": "application/json" } });
    assert.equal(bare.status, 200);
  });

  test("a request body over 1 MiB is a 413, not a dropped connection", async () => {
    const r = await fetch(`${signer.url}/generate-live-payment`, { method: "POST", body: "x".repeat(1024 * 1024 + 1) });
    assert.equal(r.status, 413);
  });

  test("a Python-SDK-shaped session: tickets the orchestrator accepts, covering the fee; then a second call with the state", async () => {
    const orch = orchestratorFor(signer.address);
    // The SDK posts {"orchestrator", "type"} first, then adds "ManifestID" and the state it was given.
    const first = await fetch(`${signer.url}/generate-live-payment`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ orchestrator: encodeMessage("OrchestratorInfo", orch.info()).toString("base64"), type: "live" }) });
    assert.equal(first.status, 200);
    const body = (await first.json()) as { payment: string; segCreds: string; state: { State: string; Sig: string } };
    assert.deepEqual(Object.keys(body).sort(), ["payment", "segCreds", "state"]);
    const payment = decodeBase64("Payment", body.payment);
    assert.ok(paymentTickets(payment).every(ticketSignatureValid));
    const received = orch.recipient.receivePayment(payment, PRICE, 1n);
    assert.equal(received.rejection, undefined);
    assert.ok(received.credit.cmp(Rational.of(30)) >= 0, "10 s prepaid at 3 wei/s are covered");
    assert.ok(segmentCredentialsValid(decodeBase64("SegData", body.segCreds), [], parseAddress(signer.address)));

    const second = paid(await client.generateLivePayment({ orchestrator: orch.info(), type: "live", manifestId: "mid-1", state: body.state }));
    const again = orch.recipient.receivePayment(decodeBase64("Payment", second.payment), PRICE, 1n);
    assert.equal(again.rejection, undefined, "new nonces, not replays");
    assert.equal(Buffer.from(decodeBase64("SegData", second.segCreds).manifestId!).toString(), "mid-1");
  });

  test("a tampered state is refused with 400", async () => {
    const orch = orchestratorFor(signer.address);
    const first = paid(await client.generateLivePayment({ orchestrator: orch.info(), type: "live" }));
    const json = JSON.parse(Buffer.from(first.state.State, "base64").toString());
    json.Balance = "99999999";
    const forged = { State: Buffer.from(JSON.stringify(json)).toString("base64"), Sig: first.state.Sig };
    await assert.rejects(client.generateLivePayment({ orchestrator: orch.info(), type: "live", manifestId: "m", state: forged }), { failure: "status", status: 400, message: /invalid sig/ });
  });

  test("482 once the credit covers a cycle, and the state from before stays usable", async () => {
    const orch = orchestratorFor(signer.address);
    const a = paid(await client.generateLivePayment({ orchestrator: orch.info(), type: "live" })); // credit ~970
    const b = paid(await client.generateLivePayment({ orchestrator: orch.info(), type: "live", manifestId: "m", state: a.state })); // ~1967
    const c = await client.generateLivePayment({ orchestrator: orch.info(), type: "live", manifestId: "m", state: b.state });
    assert.equal(c.kind, "NoTicketsNeeded");
    const d = await client.generateLivePayment({ orchestrator: orch.info(), type: "live", manifestId: "m", state: b.state });
    assert.equal(d.kind, "NoTicketsNeeded");
  });

  test("481 when the orchestrator's price is above the request's maxPrice", async () => {
    const orch = orchestratorFor(signer.address);
    const r = await client.generateLivePayment({ orchestrator: orch.info(), type: "live", maxPrice: { price: "2", currency: "wei", unit: "seconds" } });
    assert.equal(r.kind, "PriceTooHigh");
  });

  test("more than 100 tickets in one call is a 400", async () => {
    const orch = orchestratorFor(signer.address);
    await assert.rejects(client.generateLivePayment({ orchestrator: orch.info([1, 1]), type: "", inPixels: 200_000 }), { status: 400, message: /exceeds maximum of 100/ });
  });

  test("fault knobs: the next call answers 480 naming the orchestrator, then signing resumes", async () => {
    const orch = orchestratorFor(signer.address);
    const arm = await fetch(`${signer.url}/wharf/faults`, { method: "POST", body: JSON.stringify({ status: 480, count: 1 }) });
    assert.equal(arm.status, 200);
    assert.deepEqual(await client.generateLivePayment({ orchestrator: orch.info(), type: "live" }), { kind: "RefreshSession", orchestratorUrl: "https://orch.test:8935", message: "refresh session for remote signer" });
    assert.equal((await client.generateLivePayment({ orchestrator: orch.info(), type: "live" })).kind, "Paid");
  });

  test("discovery answers 503 until an orchestrator has answered", async () => {
    await assert.rejects(client.discoverOrchestrators(["live-video-to-video/noop"]), { failure: "status", status: 503 });
  });
});

describe("the key file", () => {
  test("is created with mode 0600 and keeps the address across restarts", async () => {
    const dir = join(tempDir(), "nested", "signer");
    const first = await spawnSigner(["--port", "0", "--http", "--data-dir", dir]);
    await first.stop();
    assert.equal(statSync(join(dir, "signer-key")).mode & 0o777, 0o600);
    const second = await spawnSigner(["--port", "0", "--http", "--data-dir", dir]);
    await second.stop();
    assert.equal(second.address, first.address);
  });
});

describe("listening beyond loopback", () => {
  test("is refused without --webhook or --allow-no-auth", async () => {
    await assert.rejects(spawnSigner(["--port", "0", "--http", "--host", "0.0.0.0", "--data-dir", tempDir()]), (err: Error & { code?: number; stderr?: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr ?? "", /refusing to listen on 0.0.0.0 without --webhook/);
      return true;
    });
  });

  test("is allowed with --allow-no-auth", async () => {
    const s = await spawnSigner(["--port", "0", "--http", "--host", "0.0.0.0", "--allow-no-auth", "--data-dir", tempDir()]);
    await s.stop();
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });
});

describe("HTTPS by default", () => {
  let signer: SignerProcess;
  before(async () => {
    signer = await spawnSigner(["--port", "0", "--data-dir", tempDir()]);
  });
  after(async () => {
    await signer.stop();
    await closeOrchestratorDispatchers();
  });

  test("serves a self-signed certificate a client can be told to accept", async () => {
    assert.match(signer.url, /^https:/);
    const client = new RemoteSignerClient({ url: signer.url, dispatcher: orchestratorDispatcher() });
    assert.equal((await client.signOrchestratorInfo()).addressText, signer.address);
    await assert.rejects(new RemoteSignerClient({ url: signer.url, timeoutMs: 3000 }).signOrchestratorInfo(), { failure: "unreachable" });
  });
});
