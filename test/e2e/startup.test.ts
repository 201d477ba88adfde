// Starting Wharf the ways operators get wrong: a second instance on busy ports, a production
// start with no orchestrators, a typo in a flag. Each is one clear line and exit code 2, before
// anything is started. And a WHIP client's plain OPTIONS is answered as RFC 9725 says.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, startWharf, type WharfProcess } from "../support/wharf.ts";

function runWharf(env: Record<string, string>, args: string[] = []): Promise<{ code: number | null; stderr: string; ms: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), "wharf-startup-"));
  const t0 = Date.now();
  const proc = spawn(process.execPath, ["--import", "tsx", "server/main.ts", ...args], {
    cwd: REPO,
    env: { ...process.env, WHARF_HOST: "127.0.0.1", WHARF_DATA_DIR: dataDir, WHARF_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr.on("data", (d) => (stderr += d));
  const killer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  return new Promise((resolve) =>
    proc.once("exit", (code) => {
      clearTimeout(killer);
      rmSync(dataDir, { recursive: true, force: true });
      resolve({ code, stderr, ms: Date.now() - t0 });
    }),
  );
}

describe("start-up", { timeout: 90_000 }, () => {
  let w: WharfProcess;
  before(async () => {
    w = await startWharf();
  });
  after(async () => {
    await w?.stop();
  });

  test("a second Wharf on the same ports says so in one line, before starting anything", async () => {
    const r = await runWharf({ WHARF_HTTP_PORT: String(w.httpPort), WHARF_RTMP_PORT: "0" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^wharf: httpPort \d+ on 127\.0\.0\.1 is already in use/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  });

  test("production without an orchestrator source is a start-up error naming the settings", async () => {
    const r = await runWharf({ NODE_ENV: "production", WHARF_HTTP_PORT: "0", WHARF_RTMP_PORT: "0" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no orchestrators configured: set orchAddr .* orchWebhookUrl .* remoteSignerUrl/);
  });

  test("a mistyped flag gets a suggestion", async () => {
    const r = await runWharf({ WHARF_HTTP_PORT: "0", WHARF_RTMP_PORT: "0" }, ["--rtmp-prot", "1935"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown flag --rtmp-prot \(did you mean --rtmp-port\?\)/);
  });

  test("OPTIONS on a WHIP endpoint without CORS headers: 204 with Accept-Post: application/sdp", async () => {
    const s = (await w.api("POST", "/v1/streams", { name: "whip", pipeline: "passthrough" })).body;
    const res = await fetch(`${w.http}/v1/streams/${s.id}/whip`, { method: "OPTIONS" });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("accept-post"), "application/sdp");
    assert.match(res.headers.get("allow") ?? "", /POST/);
    const pre = await fetch(`${w.http}/v1/streams/${s.id}/whip`, {
      method: "OPTIONS",
      headers: { origin: "http://example.test", "access-control-request-method": "POST", "access-control-request-headers": "content-type,authorization" },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), "http://example.test");
    assert.equal(pre.headers.get("accept-post"), "application/sdp");
  });
});
