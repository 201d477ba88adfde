// Glass-to-glass latency WHIP -> WHEP in Chromium: the fake camera plays a video whose frames
// carry their frame number as 16 black/white blocks; the publisher page (WHIP, H.264) and the
// viewer page (WHEP) each read the number of every frame they display (requestVideoFrameCallback
// + canvas), in the same browser (two unthrottled windows), on the same clock. Both sides include a
// display step, so the figure is display-to-display; its resolution is about one frame (33 ms). Latency = viewer display - publisher preview
// display of the same frame (capture -> encode -> WHIP -> Wharf -> WHEP -> decode -> display).
//
//   node --import tsx bench/webrtc-glass.ts [--seconds 20]
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { runFfmpeg } from "../core/ffmpeg.ts";
import { CHROMIUM } from "../test/support/browser.ts";
import { startWharf } from "../test/support/wharf.ts";
import { sleep, waitFor } from "../test/support/wait.ts";
import { quantileOfSorted } from "../core/percentile.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "20" } } });
const Y4M = "/tmp/wharf-glass-640x360.y4m";

async function makeVideo(): Promise<void> {
  if (existsSync(Y4M)) return;
  // 10 s at 30 fps; bit k of the frame number N is the block x in [40k, 40k+40), y < 48.
  await runFfmpeg([
    "-hide_banner", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "color=c=gray:s=640x360:r=30:d=10",
    "-vf", "geq=lum='if(lt(Y\\,48)\\,255*mod(floor(N/pow(2\\,floor(X/40)))\\,2)\\,128)':cb=128:cr=128",
    "-pix_fmt", "yuv420p", Y4M,
  ], { timeoutMs: 120000 });
}

// Runs in the page: records the first display time (ms since epoch) of every frame number.
const READER = `(() => {
  const v = document.querySelector(SELECTOR);
  const c = document.createElement("canvas"); c.width = 640; c.height = 360;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  window.__seen = [];
  const onFrame = (now) => {
    if (v.videoWidth) {
      ctx.drawImage(v, 0, 0, 640, 360);
      const row = ctx.getImageData(0, 24, 640, 1).data;
      let n = 0;
      for (let k = 0; k < 16; k++) if (row[(40 * k + 20) * 4] > 128) n |= 1 << k;
      window.__seen.push([n, performance.timeOrigin + now]);
    }
    v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
})()`;

async function main(): Promise<void> {
  await makeVideo();
  const w = await startWharf({ env: { WHARF_LOG_LEVEL: "warn" } });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless=new", "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
      `--use-file-for-fake-video-capture=${Y4M}`, "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
      // Both pages must run at full speed: no throttling of background tabs/windows.
      "--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows",
    ],
  });
  try {
    const s = (await w.api("POST", "/v1/streams", { name: "glass" })).body;
    const pub = await (await browser.newContext()).newPage();
    await pub.goto(`${w.http}/publisher.html?stream=${s.id}&key=${s.streamKey}&codec=H264&autostart=1`, { waitUntil: "domcontentloaded" });
    await waitFor("publisher live", async () => (await w.api("GET", `/v1/streams/${s.id}`)).body.state === "live", 20000, 200);
    await pub.evaluate(READER.replace("SELECTOR", JSON.stringify("#preview")));
    const view = await (await browser.newContext()).newPage();
    await view.goto(`${w.http}/viewer.html?stream=${s.id}`, { waitUntil: "domcontentloaded" });
    await view.waitForFunction(() => (document.querySelector("#video") as HTMLVideoElement).videoWidth > 0, undefined, { timeout: 20000 });
    await view.bringToFront();
    await view.evaluate(READER.replace("SELECTOR", JSON.stringify("#video")));
    await sleep(Number(values.seconds) * 1000);
    // First appearance of each frame (a frame may be delivered or displayed more than once).
    const firsts = (xs: Array<[number, number]>) => xs.filter(([n], i) => i === 0 || xs[i - 1]![0] !== n);
    const sent = firsts((await pub.evaluate("window.__seen")) as Array<[number, number]>);
    const got = firsts((await view.evaluate("window.__seen")) as Array<[number, number]>);
    // The file loops every 300 frames: match each viewer frame to the latest earlier publisher display.
    const lat: number[] = [];
    for (const [n, t] of got) {
      let best: number | undefined;
      for (const [m, u] of sent) if (m === n && u <= t && (best === undefined || u > best)) best = u;
      if (best !== undefined && t - best < 3000) lat.push(t - best);
    }
    lat.sort((a, b) => a - b);
    const q = (p: number) => quantileOfSorted(lat, p);
    const stats = await view.evaluate(async () => {
      const v = document.querySelector("#video") as HTMLVideoElement;
      return { width: v.videoWidth, height: v.videoHeight };
    });
    console.log(`frames matched ${lat.length} of ${got.length} displayed (viewer ${stats.width}x${stats.height})`);
    console.log(`glass-to-glass WHIP -> WHEP (passthrough, H.264 direct): p50 ${q(0.5).toFixed(0)} ms, p95 ${q(0.95).toFixed(0)} ms, min ${lat[0]!.toFixed(0)} ms, max ${lat.at(-1)!.toFixed(0)} ms`);
  } finally {
    await browser.close();
    await w.stop();
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
