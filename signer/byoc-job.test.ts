// The development signer's POST /sign-byoc-job, as a separate process over HTTP: the signature is
// personal_sign(keccak256(request + parameters)) by the same key /sign-orchestrator-info answers for;
// what byocJobSigningRefusal refuses is a 400 with a message; behind an auth webhook, a 403.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { jobSignedMessage } from "../protocol/apps/byoc.ts";
import { checksumAddress, parseAddress } from "../protocol/payments/address.ts";
import { recoverPersonalSigner, verifyPersonalSignature } from "../protocol/payments/personal-sign.ts";
import { orchestratorRequestSigValid } from "../protocol/payments/orchestrator-request-sig.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const dirs: string[] = [];

interface Signer {
  proc: ChildProcess;
  url: string;
  address: string;
}

/** `tsx signer/main.ts` on a fresh data dir; resolves with its one stdout line. (signer/ may not import test/support.) */
function spawnSigner(extra: string[] = []): Promise<Signer> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-byoc-signer-"));
  dirs.push(dir);
  const proc = spawn(process.execPath, ["--import", "tsx", "signer/main.ts", "--port", "0", "--http", "--data-dir", dir, ...extra], { cwd: ROOT, env: { ...process.env, WHARF_LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stderr!.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`signer did not start: ${err}`));
    }, 30_000);
    proc.stdout!.on("data", (d) => {
      out += d;
      if (!out.includes("\n")) return;
      clearTimeout(timer);
      const { listening, address } = JSON.parse(out.split("\n")[0]!) as { listening: string; address: string };
      resolve({ proc, url: listening, address });
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`signer exited with ${code}: ${err}`));
    });
  });
}

async function stop(s: Signer | undefined): Promise<void> {
  if (!s || s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const exited = new Promise((r) => s.proc.once("exit", r));
  s.proc.kill("SIGTERM");
  await exited;
}

after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const post = async (s: Signer, body: string, path = "/sign-byoc-job") => {
  const res = await fetch(`${s.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};
const sigOf = (hex: string) => new Uint8Array(Buffer.from(hex.replace(/^0x/, ""), "hex"));

describe("signer: POST /sign-byoc-job", { timeout: 60_000 }, () => {
  let signer: Signer;
  before(async () => {
    signer = await spawnSigner();
  });
  after(() => stop(signer));

  test("signs request + parameters with the signer's key: recovers to the address it answers and to /sign-orchestrator-info's", async () => {
    const request = '{"x":1}';
    const parameters = '{"orchestrators":{}}';
    const r = await post(signer, JSON.stringify({ request, parameters }));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(Object.keys(r.body).sort(), ["address", "signature"]);
    assert.match(r.body.signature, /^0x[0-9a-f]{130}$/);
    const sig = sigOf(r.body.signature);
    assert.ok(sig[64] === 27 || sig[64] === 28, "v is 27 or 28, as go's VerifySig wants");
    const recovered = checksumAddress(recoverPersonalSigner(jobSignedMessage(request, parameters), sig));
    assert.equal(recovered, r.body.address);
    assert.equal(recovered, signer.address, "the address printed at start");
    const infoRes = await fetch(`${signer.url}/sign-orchestrator-info`, { method: "POST" });
    const { address, signature } = (await infoRes.json()) as { address: string; signature: string };
    assert.equal(recovered, address);
    assert.ok(orchestratorRequestSigValid(parseAddress(address), sigOf(signature)));
    // Not a signature of anything else: other parameters, or the address message, do not verify.
    assert.ok(!verifyPersonalSignature(parseAddress(address), jobSignedMessage(request, '{"orchestrators":{}} '), sig));
    assert.notEqual(r.body.signature, signature);
  });

  test("the same job signed twice gives the same signature (RFC 6979), another job another", async () => {
    const a = await post(signer, JSON.stringify({ request: '{"y":2}', parameters: "" }));
    const b = await post(signer, JSON.stringify({ request: '{"y":2}', parameters: "" }));
    const c = await post(signer, JSON.stringify({ request: '{"y":3}', parameters: "" }));
    assert.equal(a.status, 200);
    assert.equal(a.body.signature, b.body.signature);
    assert.notEqual(a.body.signature, c.body.signature);
  });

  test("a NUL in request or parameters is a 400 with a message", async () => {
    for (const body of [{ request: '{"x":"\0"}', parameters: "" }, { request: '{"x":1}', parameters: '{"p":"\0"}' }]) {
      const r = await post(signer, JSON.stringify(body));
      assert.equal(r.status, 400);
      assert.match(r.body.error?.message ?? "", /NUL/);
    }
  });

  test("an empty body, a body that is not JSON, or not {request, parameters} strings, or a request that is not a JSON object, is a 400", async () => {
    const notJson = await post(signer, "{request:");
    assert.equal(notJson.status, 400);
    assert.match(notJson.body.error?.message ?? "", /JSON/);
    const cases: Array<[string, RegExp]> = [
      ["", /JSON/],
      [JSON.stringify({ request: { x: 1 }, parameters: "" }), /expected/],
      [JSON.stringify({ request: '{"x":1}' }), /expected/],
      ["null", /expected/],
      [JSON.stringify({ request: "[1]", parameters: "" }), /not a JSON object/],
      [JSON.stringify({ request: '{"x":1}', parameters: "{oops" }), /not JSON/],
    ];
    for (const [body, message] of cases) {
      const r = await post(signer, body);
      assert.equal(r.status, 400, body);
      assert.match(r.body.error?.message ?? "", message, body);
    }
  });

  test("GET is a 405", async () => {
    const r = await fetch(`${signer.url}/sign-byoc-job`);
    assert.equal(r.status, 405);
    await r.body?.cancel();
  });
});

describe("signer behind an auth webhook: POST /sign-byoc-job", { timeout: 60_000 }, () => {
  let signer: Signer;
  before(async () => {
    // Never called: the route refuses before any webhook is asked.
    signer = await spawnSigner(["--webhook", "http://127.0.0.1:9/auth"]);
  });
  after(() => stop(signer));

  test("is a 403, even for a job it would otherwise sign", async () => {
    const r = await post(signer, JSON.stringify({ request: '{"x":1}', parameters: "" }));
    assert.equal(r.status, 403);
    assert.match(r.body.error?.message ?? "", /webhook/);
    const info = await fetch(`${signer.url}/sign-orchestrator-info`, { method: "POST" });
    assert.equal(info.status, 200, "the address signature is still served");
    await info.body?.cancel();
  });
});
