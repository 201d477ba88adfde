// The operator dashboard in headless Chromium, as an operator uses it: the admin key entered
// once, a live AI stream on air and batch AI requests running; the charts fill with points, the
// orchestrator table names capabilities, and killing the stream's orchestrator shows up as a
// swap in the event feed and a suspended orchestrator in the table. Also: the dashboard's data
// and the event stream are admin-only. Screenshots go to test-results/ (not committed).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { REPO, startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { createLiveStream, liveStatus, pushBars } from "./live-ai.helpers.ts";
import type { FfmpegProcess } from "../../core/ffmpeg.ts";

const RESULTS = join(REPO, "test-results");
let a: OrchestratorProcess;
let b: OrchestratorProcess;
let w: WharfProcess;
let browser: Browser;

describe("operator dashboard", { timeout: 180_000 }, () => {
  before(async () => {
    mkdirSync(RESULTS, { recursive: true });
    [a, b] = await Promise.all([
      startOrchestratorProcess(["--control", "--ai-zero-cost", "--live-events-ms", "1000"], { http: true }),
      startOrchestratorProcess(["--control", "--ai-zero-cost", "--live-events-ms", "1000"], { http: true }),
    ]);
    w = await startWharf({ env: { WHARF_ORCH_ADDR: `${a.url},${b.url}`, WHARF_SEGMENT_DURATION: "1" } });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await w?.stop();
    await Promise.allSettled([a?.kill(), b?.kill()]);
  });

  test("the dashboard's data and the event stream answer 401 without a key and 403 to a key that is not admin", async () => {
    const created = await w.api("POST", "/v1/keys", { name: "streams only", scopes: ["streams", "ai"] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const notAdmin = created.body.secret as string;
    for (const path of ["/v1/dashboard/series", "/v1/dashboard/live", "/v1/dashboard/money", "/v1/dashboard/streams/abc", "/v1/events"]) {
      assert.equal((await fetch(w.http + path)).status, 401, `${path} without a key`);
      const res = await fetch(w.http + path, { headers: { authorization: `Bearer ${notAdmin}` } });
      assert.equal(res.status, 403, `${path} with a key that is not admin`);
      await res.body?.cancel();
    }
    const ok = await w.api("GET", "/v1/dashboard/series?window=5");
    assert.equal(ok.status, 200);
    assert.ok("streams.live" in ok.body.series);
  });

  test("charts fill with points, orchestrators read correctly, a killed orchestrator shows as a swap and a suspension", async () => {
    const s = await createLiveStream(w, "noop");
    const pub: FfmpegProcess = pushBars(s.rtmpUrl);
    let load = true;
    // Batch AI requests all along: a text-to-image every 300 ms.
    const requests = (async () => {
      let n = 0;
      while (load) {
        const res = await fetch(`${w.http}/text-to-image`, {
          method: "POST",
          headers: { authorization: `Bearer ${w.adminKey}`, "content-type": "application/json" },
          body: JSON.stringify({ model_id: "", prompt: `dashboard ${n++}`, width: 64, height: 64 }),
        }).catch(() => undefined);
        await res?.arrayBuffer().catch(() => undefined);
        await sleep(300);
      }
    })();
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    try {
      const live = await waitFor("the live AI stream running with a standby", async () => {
        const st = await liveStatus(w, s.id);
        return st?.state === "running" && st.standby?.state === "ready" ? st : undefined;
      }, 40_000, 250);

      await page.goto(`${w.http}/dashboard.html`);
      await page.fill("#key", w.adminKey);
      await page.click("#auth button");
      await page.waitForFunction(() => document.getElementById("status")!.textContent!.includes("data: connected"), undefined, { timeout: 10_000 });
      // The key is kept for the session, never in a URL.
      assert.equal(await page.evaluate(() => sessionStorage.getItem("wharf.adminKey")), w.adminKey);

      // --- Overview: every chart has points, and the live figures are there.
      await page.waitForFunction(() => {
        const d = (window as any).wharfDashboard;
        return d.store.latest("streams.live") === 1 && d.store.latest("ingest.bps") > 0 && d.store.keysWith("ai.p95.text-to-image").length === 1;
      }, undefined, { timeout: 20_000, polling: 250 });
      await page.waitForTimeout(1500); // a render after the data
      const points = await page.evaluate(() => {
        const d = (window as any).wharfDashboard;
        return Object.fromEntries(Object.entries(d.charts).map(([id, c]: [string, any]) => [id, { points: c.points, series: c.plot.series.length - 1 }]));
      });
      for (const id of ["c-streams", "c-viewers", "c-ingest", "c-ai-rps", "c-ai-p50", "c-ai-p95", "c-errors", "c-money"]) {
        assert.ok(points[id]?.points > 0, `${id} has data points: ${JSON.stringify(points[id])}`);
      }
      assert.ok(points["c-ai-p95"]!.series >= 1, "a latency line per pipeline");
      const okRequests = await page.evaluate(() => (window as any).wharfDashboard.store.series("ai.rps.2xx").reduce((n: number, v: number | null) => n + (v ?? 0), 0));
      assert.ok(okRequests > 0, "the AI requests chart counted the requests");
      await page.screenshot({ path: join(RESULTS, "dashboard-overview.png"), fullPage: true });

      // --- Streams: the live stream in the table, its detail with the orchestrator in use and a player.
      await tab(page, "streams");
      await page.locator("#t-streams tbody tr", { hasText: "live-noop" }).click();
      await page.waitForFunction((addr) => document.getElementById("d-facts")!.textContent!.includes(addr.replace(/^https?:\/\//, "")), live.orchestrator.address, { timeout: 10_000 });
      await page.waitForFunction(() => (document.getElementById("d-video") as HTMLVideoElement).currentTime > 0.5, undefined, { timeout: 30_000, polling: 250 });
      await page.screenshot({ path: join(RESULTS, "dashboard-stream.png"), fullPage: true });

      // --- Orchestrators: capabilities by name, both ok.
      await tab(page, "orchestrators");
      const table = page.locator("#t-orchs");
      await page.waitForFunction(() => document.querySelectorAll("#t-orchs tbody tr[data-id]").length === 2, undefined, { timeout: 10_000 });
      const text = (await table.textContent()) ?? "";
      assert.match(text, /text-to-image/);
      assert.match(text, /live-video-to-video/);
      assert.doesNotMatch(text, /\[object Object\]/);
      assert.doesNotMatch(text, /suspended/);

      // --- Kill the stream's orchestrator: a swap in the feed, a suspension in the table.
      const victim = live.orchestrator.address === a.url ? a : b;
      await victim.kill("SIGKILL");
      const row = page.locator(`#t-orchs tbody tr[data-id="${victim.url}"]`);
      await waitFor("the killed orchestrator shown suspended", async () => /suspended \(\d+ s left\)/.test((await row.textContent()) ?? ""), 20_000, 100);
      await page.screenshot({ path: join(RESULTS, "dashboard-orchestrators.png"), fullPage: true });
      await tab(page, "events");
      await page.waitForFunction(() => document.querySelector("#feed [data-type='stream.orchestrator_swap']") !== null, undefined, { timeout: 20_000 });
      const swapText = await page.locator("#feed [data-type='stream.orchestrator_swap']").first().textContent();
      assert.match(swapText ?? "", new RegExp(victim.url.replace(/^https?:\/\//, "").replace(/[.]/g, "\\.")));
      assert.ok(await page.locator("#feed [data-type='orchestrator.suspended']").count() > 0, "the suspension is in the feed too");
      assert.ok(await page.locator("#feed [data-type='stream.started']").count() > 0, "replayed on connect: the stream going live");
      // The type filter hides the others.
      await page.locator("#filters input[value='stream.orchestrator_swap']").uncheck();
      assert.equal(await page.locator("#feed [data-type='stream.orchestrator_swap']").count(), 0);
      await page.locator("#filters input[value='stream.orchestrator_swap']").check();
      await page.screenshot({ path: join(RESULTS, "dashboard-events.png"), fullPage: true });

      // --- Money: renders (zero-cost orchestrators: the numbers are 0, the tables and charts exist).
      await tab(page, "money");
      await page.waitForFunction(() => (window as any).wharfDashboard.charts["c-m-today"]?.points > 0, undefined, { timeout: 10_000 });
      await page.screenshot({ path: join(RESULTS, "dashboard-money.png"), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      load = false;
      await requests;
      await page.close();
      await pub.stop();
    }
  });
});

async function tab(page: Page, name: string): Promise<void> {
  await page.click(`nav button[data-tab=${name}]`);
  await page.waitForTimeout(300);
}
