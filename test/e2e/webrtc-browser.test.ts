// Headless Chromium publishes its fake camera with the publisher page (WHIP) and a second
// page watches it with the viewer page (WHEP); frames must keep being decoded.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";

let w: WharfProcess;
let browser: Browser;

before(async () => {
  w = await startWharf();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await w?.stop();
});

test("publisher page (WHIP) -> viewer page (WHEP) in Chromium", { timeout: 90000 }, async () => {
  const s = (await w.api("POST", "/v1/streams", { name: "browser-webrtc", pipeline: "passthrough" })).body;
  const errors: string[] = [];
  const pubPage = await browser.newPage();
  pubPage.on("pageerror", (e) => errors.push(e.message));
  // The landing page links to both pages.
  await pubPage.goto(w.http + "/");
  assert.ok(await pubPage.locator('a[href="/publisher.html"]').count());
  assert.ok(await pubPage.locator('a[href="/viewer.html"]').count());

  const t0 = Date.now();
  await pubPage.goto(`${w.http}/publisher.html?stream=${s.id}&key=${s.streamKey}&autostart=1`);
  await pubPage.waitForFunction(() => /Connection: connected/.test(document.getElementById("status")!.textContent ?? ""), undefined, { timeout: 20000 });
  const live = await waitFor("stream live over WHIP", async () => {
    const b = (await w.api("GET", `/v1/streams/${s.id}`)).body;
    return b.state === "live" && b.ingest?.protocol === "whip" ? b : undefined;
  }, 10000);
  assert.equal(live.ingest.protocol, "whip");
  await waitFor("HLS from the browser publisher", async () => (await fetch(s.hlsUrl)).ok, 20000, 200);
  const hlsMs = Date.now() - t0;

  const viewPage = await browser.newPage();
  viewPage.on("pageerror", (e) => errors.push(e.message));
  const t1 = Date.now();
  await viewPage.goto(`${w.http}/viewer.html?stream=${s.id}`);
  await viewPage.waitForFunction(() => Number(document.getElementById("stats")!.dataset.framesDecoded ?? 0) > 0, undefined, { timeout: 20000, polling: 100 });
  const firstFrameMs = Date.now() - t1;
  const decoded = () =>
    viewPage.evaluate(async () => {
      const pc = (window as unknown as { wharfViewer: { pc: RTCPeerConnection } }).wharfViewer.pc;
      let frames = 0;
      let width = 0;
      (await pc.getStats()).forEach((r: any) => {
        if (r.type === "inbound-rtp" && r.kind === "video") {
          frames = r.framesDecoded ?? 0;
          width = r.frameWidth ?? 0;
        }
      });
      return { frames, width };
    });
  const a = await decoded();
  await sleep(3000);
  const b = await decoded();
  assert.ok(b.frames > a.frames + 30, `framesDecoded ${a.frames} -> ${b.frames} in 3 s`);
  assert.ok(b.width > 0);
  const kbps = Number(await pubPage.evaluate(() => document.getElementById("stats")!.dataset.kbps ?? 0));
  assert.match(await viewPage.textContent("#status") ?? "", /WebRTC: connected/);
  const fanout = await w.api("GET", `/v1/streams/${s.id}`);
  assert.equal(fanout.body.state, "live");
  console.log(`# Chromium WHIP->WHEP: HLS ${hlsMs} ms after page load; viewer first frame ${firstFrameMs} ms; ${b.frames - a.frames} frames decoded in 3 s at ${b.width}px; publisher sending ${kbps} kbit/s`);

  // Stop publishing from the page: the stream ends.
  await pubPage.click("#stop");
  await waitFor("idle after Stop", async () => (await w.api("GET", `/v1/streams/${s.id}`)).body.state === "idle", 3000, 50);
  assert.deepEqual(errors, []);
});
