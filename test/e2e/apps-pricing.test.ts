// Live Runner sessions as go-livepeer prices and bills them, through Wharf and the paying
// development orchestrator: a runner priced per 720p-pixel-second is paid as live video (720p at
// 30 fps a second, type "lv2v"), a fixed price is paid once with the reservation (no top-ups: the
// orchestrator refuses them with 409), and a session the orchestrator released behind Wharf's back
// is ended at its next top-up (404) with what was open through it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { spawnListening, type ListeningProcess } from "../support/listening-process.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";
import { appCapacity, credited, debited } from "../support/apps.ts";

const app = (name: string) => encodeURIComponent(`example/${name}`);
type UsageRecord = { streamId?: string; orchestratorCostWei: string; durationSeconds?: number; paidWei: string };

describe("apps priced per second of 720p video and at a fixed price", { timeout: 120_000 }, () => {
  let runner: ListeningProcess;
  let signer: ListeningProcess;
  let o: OrchestratorProcess;
  let w: WharfProcess;
  let key: string;
  let keyId: string;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "wharf-e2e-apps-pricing-"));
    [runner, signer] = await Promise.all([
      spawnListening("orchestrator/example-runner/main.ts", ["--name", "p1"]),
      spawnListening("signer/main.ts", ["--port", "0", "--http", "--data-dir", join(dir, "signer")]),
    ]);
    // As an operator writes go-livepeer's -liveRunnerConfig: a relative health_url, prices in USD.
    const common = { routing: "label", runner_url: runner.url, health_url: "/health", version: "1", mode: "persistent", capacity: 1 };
    const file = join(dir, "runners.json");
    writeFileSync(file, JSON.stringify({ runners: [
      { ...common, label: "echo", app: "example/echo", price_info: { price: 0.01, currency: "usd", unit: "hour" } },
      { ...common, label: "frame", app: "example/frame", price_info: { price: 0.05, currency: "usd", unit: "720p" } },
      { ...common, label: "once", app: "example/once", price_info: { price: 0.002, currency: "usd", unit: "fixed" } },
    ] }));
    o = await startOrchestratorProcess(["--no-ai", "--no-live", "--require-payment", "--runners", file, "--runner-health-ms", "300", "--app-payment-interval-ms", "1000"], { http: true });
    w = await startWharf({ env: { WHARF_ORCH_ADDR: o.url, WHARF_REMOTE_SIGNER_URL: signer.url, WHARF_LIVE_PAYMENT_INTERVAL: "1" } });
    const k = await w.api("POST", "/v1/keys", { name: "pricing", scopes: ["ai"] });
    key = k.body.secret;
    keyId = k.body.key.id;
    await waitFor("apps discovered", async () => ((await w.api("GET", "/v1/apps", undefined, key)).body.apps?.length === 3 ? true : undefined), 20_000, 200);
  });
  after(async () => {
    await w?.stop();
    await o?.kill();
    for (const p of [runner, signer]) p?.proc.kill("SIGKILL");
  });

  const usageOf = async (sessionId: string) => {
    const all = (await w.api("GET", `/v1/usage?key=${keyId}&pipeline=apps&limit=1000`)).body as { records: UsageRecord[] };
    return all.records.filter((r) => r.streamId === sessionId);
  };

  test("a runner priced per 720p-pixel-second: paid as 720p30 video every interval, billed at that cost, listed per hour of 720p", async () => {
    const listed = (await w.api("GET", "/v1/apps", undefined, key)).body.apps.find((x: { app: string }) => x.app === "example/frame");
    assert.equal(listed.price.per, "hour-of-720p");
    // 0.05 USD per hour of 720p30 at the orchestrator, +20 % (the default price book's margin).
    assert.ok(Math.abs(listed.price.amount - 0.06) < 0.0001, JSON.stringify(listed.price));
    const paidBefore = await credited(o);
    const debitedBefore = await debited(o);
    const opened = await w.api("POST", `/v1/apps/${app("frame")}/sessions`, undefined, key);
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    // The orchestrator debits 1280x720x30 pixels a second and releases a session whose balance cannot pay.
    await new Promise((r) => setTimeout(r, 3500));
    const s = (await w.api("GET", `/v1/apps/${app("frame")}/sessions/${opened.body.id}`, undefined, key)).body;
    assert.equal(s.state, "running", JSON.stringify(s));
    const debitedNow = (await debited(o)) - debitedBefore;
    const creditedNow = (await credited(o)) - paidBefore;
    assert.ok(debitedNow > 0n, "the orchestrator debited the session");
    assert.ok(creditedNow >= debitedNow, `paid ${creditedNow} wei for ${debitedNow} wei of work`);
    const ended = (await w.api("DELETE", `/v1/apps/${app("frame")}/sessions/${opened.body.id}`, undefined, key)).body;
    const records = await usageOf(opened.body.id);
    const seconds = records.reduce((n, r) => n + (r.durationSeconds ?? 0), 0);
    const cost = records.reduce((n, r) => n + BigInt(r.orchestratorCostWei), 0n);
    assert.equal(seconds, ended.billedSeconds);
    // Billed at the orchestrator's cost of a second of 720p30: a 3600th of its price per hour (the
    // orchestrator's price is per pixel, 1280x720x30 of them a second: runners.test.ts pins that side).
    const perSecond = Number(cost) / seconds;
    assert.ok(Math.abs(perSecond / (((0.05 / 3000) * 1e18) / 3600) - 1) < 0.01, `${perSecond} wei a second`);
  });

  test("a fixed price is paid once, with the reservation: the session runs on without top-ups and bills that price once", async () => {
    const paidBefore = await credited(o);
    const opened = await w.api("POST", `/v1/apps/${app("once")}/sessions`, undefined, key);
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    const paidAtStart = (await credited(o)) - paidBefore;
    assert.ok(paidAtStart > 0n, "the reservation was paid");
    await new Promise((r) => setTimeout(r, 3500));
    const s = (await w.api("GET", `/v1/apps/${app("once")}/sessions/${opened.body.id}`, undefined, key)).body;
    assert.equal(s.state, "running", JSON.stringify(s));
    assert.equal((await credited(o)) - paidBefore, paidAtStart, "no top-ups after the reservation");
    await w.api("DELETE", `/v1/apps/${app("once")}/sessions/${opened.body.id}`, undefined, key);
    const records = await usageOf(opened.body.id);
    const fixedWei = (0.002 / 3000) * 1e18;
    const cost = records.reduce((n, r) => n + BigInt(r.orchestratorCostWei), 0n);
    assert.ok(Math.abs(Number(cost) / fixedWei - 1) < 0.01, `billed an orchestrator cost of ${cost} wei for a fixed price of ${fixedWei}`);
  });

  test("a session the orchestrator released behind Wharf's back is ended at its next top-up (404), and its open WebSocket is closed", async () => {
    const opened = await w.api("POST", `/v1/apps/${app("echo")}/sessions`, undefined, key);
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    const s = opened.body;
    const ws = new WebSocket(`${s.wsUrl}v1/ws`, { headers: { authorization: `Bearer ${key}` } });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const closed = new Promise<number>((resolve) => ws.once("close", resolve));
    // The runner sees the orchestrator's session id; release that session at the orchestrator directly.
    const seen = await fetch(`${s.appUrl}v1/json`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: "{}" });
    const orchSession = ((await seen.json()) as { session: string }).session;
    assert.equal((await fetch(`${o.url}/apps/echo/session/${orchSession}/stop`, { method: "POST" })).status, 204);
    const ended = await waitFor("session ended", async () => {
      const r = await w.api("GET", `/v1/apps/${app("echo")}/sessions/${s.id}`, undefined, key);
      return r.body.state === "ended" ? r.body : undefined;
    }, 10_000, 100);
    assert.equal(ended.endReason, "runner-failed");
    assert.match(ended.endDetail, /no longer has the session: .*answered 404/);
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error("the WebSocket stayed open")), 5000))]);
    assert.equal(await appCapacity(o), 1);
  });
});
