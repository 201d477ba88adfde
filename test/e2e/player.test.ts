// The hls.js player page in headless Chromium plays a live RTMP stream.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import type { FfmpegProcess } from "../../core/ffmpeg.ts";

let w: WharfProcess;
let browser: Browser;
let pub: FfmpegProcess | undefined;

before(async () => {
  w = await startWharf();
  browser = await launchChromium();
});
after(async () => {
  await pub?.stop();
  await browser?.close();
  await w?.stop();
});

test("the player page plays a live stream past 3 s", { timeout: 90000 }, async () => {
  const s = (await w.api("POST", "/v1/streams", { name: "browser" })).body;
  pub = pushTestPattern(s.rtmpUrl, { size: "640x360" });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // The landing page links to the player.
  await page.goto(w.http + "/");
  assert.ok(await page.locator('a[href="/player.html"]').count());
  await page.goto(`${w.http}/player.html?stream=${s.id}`);
  await page.waitForFunction(() => (document.getElementById("video") as HTMLVideoElement).currentTime > 3, undefined, { timeout: 60000, polling: 250 });
  const t = await page.evaluate(() => (document.getElementById("video") as HTMLVideoElement).currentTime);
  assert.ok(t > 3, `currentTime ${t}`);
  const status = await page.textContent("#status");
  assert.match(status ?? "", /Playing/);
  assert.deepEqual(errors, []);
});

test("the player page says so at once for a stream that does not exist, and waits for one that is not live yet", { timeout: 60000 }, async () => {
  const page = await browser.newPage();
  await page.goto(`${w.http}/player.html?stream=str_doesnotexist`);
  await page.waitForFunction(() => /no stream/i.test(document.getElementById("status")?.textContent ?? ""), undefined, { timeout: 10000, polling: 100 });
  const idle = (await w.api("POST", "/v1/streams", { name: "not yet" })).body;
  await page.goto(`${w.http}/player.html?stream=${idle.id}`);
  await page.waitForFunction(() => /waiting/i.test(document.getElementById("status")?.textContent ?? ""), undefined, { timeout: 15000, polling: 100 });
  await page.close();
});
