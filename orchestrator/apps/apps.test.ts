// The development orchestrator hosting apps: discovery, the 402 payment challenge of a priced
// runner, reservation and release of capacity, the session proxy (SSE, WebSocket), BYOC.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
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

  before(async () => {
    runner = await startExampleRunner({ name: "r1" });
    const dir = mkdtempSync(join(tmpdir(), "wharf-apps-"));
    const file = join(dir, "runners.json");
    const common = { routing: "label", runner_url: runner.url, health_url: `${runner.url}/health`, version: "1" };
    writeFileSync(file, JSON.stringify({ runners: [
      { ...common, label: "echo", app: "example/echo", mode: "persistent", capacity: 1, price_info: { price: 0.01, currency: "usd", unit: "hour" } },
      { ...common, label: "json", app: "example/json", mode: "single-shot", capacity: 2 },
    ] }));
    [paid, free] = await Promise.all([
      startOrchestratorProcess(["--no-ai", "--no-live", "--runners", file, "--require-payment"], { http: true }),
      startOrchestratorProcess(["--no-ai", "--no-live", "--runners", file, "--orch-secret", "s3cret"], { http: true }),
    ]);
  });
  after(async () => {
    await Promise.allSettled([paid?.kill(), free?.kill(), runner?.close()]);
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
});
