// Glass-to-glass latency WHIP -> WHEP in Chromium: the fake camera plays a video whose frames
// carry their frame number as 16 black/white blocks; the publisher page (WHIP, H.264) and the
// viewer page (WHEP) each read the number of every frame they display (requestVideoFrameCallback
// + canvas), in the same browser (two unthrottled windows), on the same clock. Both sides include a
// display step, so the figure is display-to-display; its resolution is about one frame (33 ms). Latency = viewer display - publisher preview
// display of the same frame (capture -> encode -> WHIP -> Wharf -> WHEP -> decode -> display).
//
//   node --import tsx bench/webrtc-glass.ts [--seconds 20]
import { parseArgs } from "node:util";
import { frameReader, makeFrameNumberVideo } from "./support/frame-numbers.ts";
import { chromium } from "playwright-core";
import { CHROMIUM } from "../test/support/browser.ts";
import { startWharf } from "../test/support/wharf.ts";
import { sleep, waitFor } from "../test/support/wait.ts";
import { quantileOfSorted } from "../core/percentile.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "20" } } });
const Y4M = "/tmp/wharf-glass-640x360.y4m";

async function main(): Promise<void> {
  await makeFrameNumberVideo(Y4M);
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
    await pub.evaluate(frameReader("#preview"));
    const view = await (await browser.newContext()).newPage();
    await view.goto(`${w.http}/viewer.html?stream=${s.id}`, { waitUntil: "domcontentloaded" });
    await view.waitForFunction(() => (document.querySelector("#video") as HTMLVideoElement).videoWidth > 0, undefined, { timeout: 20000 });
    await view.bringToFront();
    await view.evaluate(frameReader("#video"));
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
