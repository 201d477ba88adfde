// The development orchestrator hosting apps: discovery, the 402 payment challenge of a priced
// runner, reservation and release of capacity, the session proxy (SSE, WebSocket), BYOC.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { startOrchestratorProcess, type OrchestratorProcess } from "../../test/support/orchestrator.ts";
import { startExampleRunner, type ExampleRunner } from "../example-runner/main.ts";
import { encodeByocHeader, type DiscoveryEntry } from "../../protocol/apps/live-runner.ts";
import { decodeBase64 } from "../../protocol/messages.ts";

describe("development orchestrator: apps", { timeout: 60_000 }, () => {
  let runner: ExampleRunner;
  let paid: OrchestratorProcess;
  let free: OrchestratorProcess;
  let idle: OrchestratorProcess;

  before(async () => {
    runner = await startExampleRunner({ name: "r1" });
    const dir = mkdtempSync(join(tmpdir(), "wharf-apps-"));
    const file = join(dir, "runners.json");
    const common = { routing: "label", runner_url: runner.url, health_url: `${runner.url}/health`, version: "1" };
    writeFileSync(file, JSON.stringify({ runners: [
      { ...common, label: "echo", app: "example/echo", mode: "persistent", capacity: 1, price_info: { price: 0.01, currency: "usd", unit: "hour" } },
      { ...common, label: "json", app: "example/json", mode: "single-shot", capacity: 2 },
    ] }));
    [paid, free, idle] = await Promise.all([
      startOrchestratorProcess(["--no-ai", "--no-live", "--runners", file, "--require-payment"], { http: true }),
      startOrchestratorProcess(["--no-ai", "--no-live", "--runners", file, "--orch-secret", "s3cret"], { http: true }),
      startOrchestratorProcess(["--no-ai", "--no-live", "--runners", file, "--app-session-idle-ms", "1500"], { http: true }),
    ]);
  });
  after(async () => {
    await Promise.allSettled([paid?.kill(), free?.kill(), idle?.kill(), runner?.close()]);
  });

  test("GET /discovery lists runners with app, mode, capacity and the price in wei per second", async () => {
    const d = (await (await fetch(`${paid.url}/discovery`)).json()) as DiscoveryEntry[];
    const echo = d[0]!.runners.find((r) => r.app === "example/echo")!;
    assert.equal(echo.mode, "persistent");
    assert.equal(echo.capacity_available, 1);
    assert.match(echo.url, /\/apps\/echo\/session$/);
    assert.equal(echo.price_info?.unit, "seconds");
    // 0.01 USD per hour at 3000 USD/ETH: about 0.93 gwei per second.
    assert.ok(Math.abs(echo.price_info!.price - 925_925_925.9) < 1, String(echo.price_info?.price));
  });

  test("a priced runner answers a reservation without payment with go-livepeer's 402 challenge", async () => {
    const res = await fetch(`${paid.url}/apps/echo/session`, { method: "POST", headers: { "Livepeer-Payer-Address": "0x" + "11".repeat(20) } });
    assert.equal(res.status, 402);
    const c = (await res.json()) as Record<string, string>;
    assert.deepEqual(Object.keys(c).sort(), ["manifest_id", "orchestrator", "payment_params", "payment_url"]);
    const info = decodeBase64("OrchestratorInfo", c.payment_params!);
    assert.ok(info.ticketParams?.recipient?.length, "ticket params for the payer");
    assert.ok((info.priceInfo?.pricePerUnit ?? 0) > 0);
    assert.match(c.payment_url!, new RegExp(`/apps/echo/session/${c.manifest_id}/payment$`));
    // As go-livepeer: the manifest to pay with is the auth token's session.
    assert.equal(c.manifest_id, info.authToken?.sessionId);
  });

  test("an unpaid orchestrator reserves, proxies SSE and WebSocket, and /stop releases the slot", async () => {
    const r = (await (await fetch(`${free.url}/apps/echo/session`, { method: "POST" })).json()) as { session_id: string; app_url: string };
    const busy = await fetch(`${free.url}/apps/echo/session`, { method: "POST" });
    assert.equal(busy.status, 503, "capacity 1 is taken");
    await busy.body?.cancel();
    const sse = await (await fetch(`${r.app_url}/v1/events?count=3&intervalMs=10`)).text();
    assert.equal(sse.match(/event: tick/g)?.length, 3);
    const ws = new WebSocket(r.app_url.replace(/^http/, "ws") + "/v1/ws");
    const echoed = await new Promise<string>((resolve, reject) => {
      ws.on("open", () => ws.send("ping"));
      ws.on("message", (m) => resolve(String(m)));
      ws.on("error", reject);
    });
    ws.close();
    assert.equal(echoed, "ping");
    assert.equal((await fetch(`${free.url}/apps/echo/session/${r.session_id}/stop`, { method: "POST" })).status, 204);
    const again = await fetch(`${free.url}/apps/echo/session`, { method: "POST" });
    assert.equal(again.status, 200);
    await again.body?.cancel();
  });

  test("BYOC: a registered capability answers /process/request/{path} with the container's answer", async () => {
    const reg = await fetch(`${free.url}/capability/register`, { method: "POST", headers: { authorization: "s3cret" }, body: JSON.stringify({ name: "echo-box", url: runner.url, capacity: 1, price_per_unit: 0, price_scaling: 1, currency: "wei" }) });
    assert.equal(reg.status, 200);
    const res = await fetch(`${free.url}/process/request/process/echo`, { method: "POST", headers: { Livepeer: encodeByocHeader({ capability: "echo-box" }), "content-type": "application/json" }, body: JSON.stringify({ x: 1 }) });
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { echo: unknown }).echo, { x: 1 });
  });

  test("BYOC: registering a capability again while a job runs keeps its capacity count (the job gives its slot back)", async () => {
    const register = () => fetch(`${free.url}/capability/register`, { method: "POST", headers: { authorization: "s3cret" }, body: JSON.stringify({ name: "slow-box", url: runner.url, capacity: 1, price_per_unit: 0 }) });
    assert.equal((await register()).status, 200);
    const job = fetch(`${free.url}/process/request/v1/json?delayMs=800`, { method: "POST", headers: { Livepeer: encodeByocHeader({ capability: "slow-box" }) }, body: "{}" });
    const available = async () => ((await (await fetch(`${free.url}/discovery`)).json()) as DiscoveryEntry[])[0]!.byoc!.find((b) => b.name === "slow-box")!.capacity_available;
    for (let i = 0; i < 100 && (await available()) !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await available(), 0, "the job holds the only slot");
    assert.equal((await register()).status, 200);
    assert.equal((await job).status, 200);
    assert.equal(await available(), 1, "the slot came back once the job ended");
  });

  test("a session nobody pays or uses for --app-session-idle-ms is released", async () => {
    const first = await fetch(`${idle.url}/apps/echo/session`, { method: "POST" });
    assert.equal(first.status, 200);
    const { app_url } = (await first.json()) as { app_url: string };
    const use = () => fetch(`${app_url}/v1/json`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    // Used well within the idle time (1.5 s): kept.
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 400));
      const r = await use();
      assert.equal(r.status, 200, "a session used every 400 ms stays");
      await r.body?.cancel();
    }
    const busy = await fetch(`${idle.url}/apps/echo/session`, { method: "POST" });
    assert.equal(busy.status, 503, "its slot is still taken");
    await busy.body?.cancel();
    // Left alone: released (its app URL answers 404 with why), and the slot is free again.
    await new Promise((r) => setTimeout(r, 2500));
    const ended = await use();
    assert.equal(ended.status, 404);
    assert.match(((await ended.json()) as { message: string }).message, /ended: idle/);
    const again = await fetch(`${idle.url}/apps/echo/session`, { method: "POST" });
    assert.equal(again.status, 200);
    await again.body?.cancel();
  });

  test("an upgrade naming a runner in broken %-encoding is refused, and the orchestrator lives on", async () => {
    // A live session (the idle orchestrator frees the slot the test before left taken).
    let reserved: Response | undefined;
    for (let i = 0; i < 50 && (reserved = await fetch(`${idle.url}/apps/echo/session`, { method: "POST" })).status !== 200; i++) await new Promise((r) => setTimeout(r, 200));
    const { session_id } = (await reserved!.json()) as { session_id: string };
    assert.ok(session_id);
    const head = await new Promise<string>((resolve, reject) => {
      const s = connect(Number(new URL(idle.url).port), "127.0.0.1", () => {
        s.write(`GET /apps/%E0%A4%A/session/${session_id}/app/v1/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 1).toString("base64")}\r\n\r\n`);
      });
      let got = "";
      s.on("data", (d) => (got += d));
      s.on("close", () => resolve(got));
      s.on("error", reject);
    });
    assert.match(head, /^HTTP\/1.1 404/);
    const app = await fetch(`${idle.url}/apps/echo/session/${session_id}/app/v1/json`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(app.status, 200, "still serving, the session too");
    await app.body?.cancel();
  });
});
