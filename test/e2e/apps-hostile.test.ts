// Apps through Wharf against hostile clients and broken orchestrators: a body sent too slowly,
// upgrades whose clients reset while their key is checked, paths with dot segments (which the URL parser would resolve to another
// endpoint of the orchestrator), a bad `Livepeer` header, a session whose orchestrator answers its
// liveness check with errors, and a reservation without a usable app URL. The orchestrator is reached
// through a small proxy in this test (its --service-url) that can be told to misbehave.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { proxyHttp } from "../../core/reverse-proxy.ts";
import { encodeByocHeader, type DiscoveryEntry } from "../../protocol/apps/live-runner.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { spawnListening, type ListeningProcess } from "../support/listening-process.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";

const SESSION_APP = encodeURIComponent("example/echo");
const RUN_APP = encodeURIComponent("example/json");

/** One raw HTTP/1.1 exchange on a fresh connection: the whole answer as text (read until the server closes or `ms`). */
function rawExchange(port: number, head: string, ms = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => s.write(head));
    let got = "";
    const timer = setTimeout(() => s.destroy(), ms);
    s.on("data", (d) => (got += d));
    s.on("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.on("error", reject);
  });
}

/** A request with its path sent exactly as written (fetch would resolve its dot segments first). */
function rawRequest(base: string, method: string, path: string, headers: Record<string, string>, body = ""): Promise<{ status: number; json: { error?: string; message?: string } }> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { ...headers, "content-length": String(Buffer.byteLength(body)) } }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, json: JSON.parse(text || "{}") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("apps through Wharf: hostile input and broken orchestrators", { timeout: 120_000 }, () => {
  let runner: ListeningProcess;
  let orch: OrchestratorProcess;
  let w: WharfProcess;
  let key: string;
  let front: Server;
  /** What the proxy in front of the orchestrator does wrong now. */
  const fault = { badReservation: false };

  before(async () => {
    front = createServer((req, res) => {
      if (fault.badReservation && req.method === "POST" && /^\/apps\/[^/]+\/session$/.test(req.url!)) {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ session_id: "s1", app_url: "not a url", control_url: "javascript:alert(1)" }));
        return;
      }
      void proxyHttp(req.method!, req.headers, req, res, { url: new URL(`${orch.url}${req.url}`) });
    });
    await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
    const frontUrl = `http://127.0.0.1:${(front.address() as { port: number }).port}`;
    const dir = mkdtempSync(join(tmpdir(), "wharf-e2e-apps-hostile-"));
    runner = await spawnListening("orchestrator/example-runner/main.ts", ["--name", "r1"]);
    const common = { routing: "label", runner_url: runner.url, health_url: `${runner.url}/health`, version: "1" };
    const file = join(dir, "runners.json");
    writeFileSync(file, JSON.stringify({ runners: [
      { ...common, label: "echo", app: "example/echo", mode: "persistent", capacity: 2 },
      { ...common, label: "json", app: "example/json", mode: "single-shot", capacity: 4 },
    ] }));
    orch = await startOrchestratorProcess(["--no-ai", "--no-live", "--runners", file, "--runner-health-ms", "300", "--orch-secret", "s3cret", "--service-url", frontUrl], { http: true });
    const reg = await fetch(`${orch.url}/capability/register`, { method: "POST", headers: { authorization: "s3cret" }, body: JSON.stringify({ name: "box", url: runner.url, capacity: 2, price_per_unit: 0 }) });
    assert.equal(reg.status, 200);
    w = await startWharf({ env: { WHARF_ORCH_ADDR: orch.url, WHARF_LIVE_PAYMENT_INTERVAL: "1", WHARF_HTTP_REQUEST_TIMEOUT_SEC: "2" } });
    key = (await w.api("POST", "/v1/keys", { name: "hostile", scopes: ["ai"] })).body.secret;
    await waitFor("apps discovered", async () => ((await w.api("GET", "/v1/apps", undefined, key)).body.apps?.length === 2 ? true : undefined), 20_000, 200);
  });
  after(async () => {
    await w?.stop();
    await orch?.kill();
    runner?.proc.kill("SIGKILL");
    front?.close();
  });

  const echoAvailable = async () => ((await (await fetch(`${orch.url}/discovery`)).json()) as DiscoveryEntry[])[0]!.runners.find((r) => r.app === "example/echo")!.capacity_available;

  test("upgrades whose clients reset while their key is checked leave Wharf serving", async () => {
    const port = w.httpPort;
    const upgrade = (i: number) =>
      `GET /v1/apps/${SESSION_APP}/sessions/as_${i}/app/v1/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16, i).toString("base64")}\r\nAuthorization: Bearer wharf_sk_${"x".repeat(20)}${i}\r\n\r\n`;
    await Promise.all(Array.from({ length: 200 }, (_, i) => new Promise<void>((resolve) => {
      const s = connect(port, "127.0.0.1", () => {
        s.write(upgrade(i));
        setImmediate(() => s.resetAndDestroy());
      });
      s.on("error", () => {});
      s.on("close", () => resolve());
    })));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(w.proc.exitCode, null, `Wharf exited: ${w.output().slice(-2000)}`);
    assert.equal((await w.api("GET", "/v1/apps", undefined, key)).status, 200);
  });

  test("a client that sends its body too slowly is answered 408 and cut off (httpRequestTimeoutSec), on the apps lane and on fastify's routes", async () => {
    for (const path of [`/v1/apps/${RUN_APP}/run/v1/json`, "/text-to-image"]) {
      const t0 = Date.now();
      const answer = await rawExchange(w.httpPort, `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"prompt": "`, 15_000);
      assert.match(answer, /^HTTP\/1.1 408 /, path);
      assert.ok(Date.now() - t0 < 8000, `${path}: cut off after ${Date.now() - t0} ms`);
    }
    assert.equal((await w.api("GET", "/v1/apps", undefined, key)).status, 200);
  });

  test("an upgrade is refused with the guard's status: 401 for an unknown key", async () => {
    const head = await rawExchange(w.httpPort, `GET /v1/apps/${SESSION_APP}/sessions/as_1/app/v1/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 7).toString("base64")}\r\n\r\n`);
    assert.match(head, /^HTTP\/1.1 401 Unauthorized\r\n/);
    assert.match(head, /www-authenticate: Bearer/i);
    assert.equal(JSON.parse(head.slice(head.indexOf("\r\n\r\n") + 4)).error, "unauthorized");
  });

  test("a path with a dot segment is refused (400) and never reaches the orchestrator", async () => {
    const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const before = await echoAvailable();
    // Resolved by the URL parser, these would reserve a session of example/echo as one run of example/json.
    for (const path of [
      `/v1/apps/${RUN_APP}/run/../../echo/session`,
      `/v1/apps/${RUN_APP}/run/%2e%2e/%2E%2e/echo/session`,
      `/v1/apps/${RUN_APP}/run/v1/..\\..\\..\\echo/session`,
      `/v1/apps/${RUN_APP}/run/..%23`, // fastify decodes the wildcard: "..#"
    ]) {
      const r = await rawRequest(w.http, "POST", path, auth, "{}");
      assert.equal(r.status, 400, path);
      assert.equal(r.json.error, "bad_request", path);
      assert.match(r.json.message!, /'\.\.'/, path);
    }
    const byoc = await rawRequest(w.http, "POST", "/process/request/../../apps/echo/session", { ...auth, Livepeer: encodeByocHeader({ capability: "box" }) }, "{}");
    assert.equal(byoc.status, 400);
    assert.equal(await echoAvailable(), before, "no session was reserved");

    const opened = await w.api("POST", `/v1/apps/${SESSION_APP}/sessions`, undefined, key);
    assert.equal(opened.status, 201);
    try {
      const viaSession = await rawRequest(w.http, "GET", `/v1/apps/${SESSION_APP}/sessions/${opened.body.id}/app/../../../json/app/v1/json`, auth);
      assert.equal(viaSession.status, 400);
      assert.equal(viaSession.json.error, "bad_request");
      const ws = await rawExchange(w.httpPort, `GET /v1/apps/${SESSION_APP}/sessions/${opened.body.id}/app/%2e%2e/x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 3).toString("base64")}\r\nAuthorization: Bearer ${key}\r\n\r\n`);
      assert.match(ws, /^HTTP\/1.1 400 /);
      // The same session still serves a path that stays inside it.
      const ok = await fetch(`${w.http}/v1/apps/${SESSION_APP}/sessions/${opened.body.id}/app/v1/events?count=1&intervalMs=1`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(ok.status, 200);
      await ok.text();
    } finally {
      await w.api("DELETE", `/v1/apps/${SESSION_APP}/sessions/${opened.body.id}`, undefined, key);
    }
  });

  test("a Livepeer header whose orchestrator include list is not a list is a 400 with the reason", async () => {
    const header = Buffer.from(JSON.stringify({ request: "{}", parameters: { orchestrators: { include: 5 } }, capability: "box", timeout_seconds: 5 })).toString("base64");
    const res = await fetch(`${w.http}/process/request/v1/json`, { method: "POST", headers: { authorization: `Bearer ${key}`, Livepeer: header }, body: "{}" });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { message: string }).message, /include and \.exclude must be arrays/);
  });

  test("a reservation answered without a usable app_url is refused at once (503, JSON), not relayed to", async () => {
    fault.badReservation = true;
    try {
      const t0 = Date.now();
      const r = await w.api("POST", `/v1/apps/${SESSION_APP}/sessions`, undefined, key);
      assert.equal(r.status, 503);
      assert.equal(r.body.error, "no_runner");
      assert.match(r.body.message, /http\(s\) app_url and control_url/);
      assert.ok(Date.now() - t0 < 5000);
    } finally {
      fault.badReservation = false;
    }
    assert.equal(w.proc.exitCode, null);
  });
});
