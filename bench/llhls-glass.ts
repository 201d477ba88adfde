// Glass-to-glass latency RTMP -> LL-HLS in Chromium with hls.js (the player page, lowLatencyMode):
// an ffmpeg publisher encodes, in real time (-re), a video whose frames carry their frame number
// as 16 black/white blocks (and as drawtext digits for a human looking at it); the player page
// reads the number of every frame it displays (requestVideoFrameCallback + canvas). The publisher
// reports its frame count every 50 ms (-progress): with -re, frame k leaves the encoder at
// T0 + k/30, T0 taken as the smallest (report time - frames/30), so "glass in" is when a frame
// was encoded. Latency = display time in the page - that time, same machine clock. Includes the
// encoder, RTMP, Wharf's parts (0.334 s), hls.js's PART-HOLD-BACK (1 s), decode and display.
//
//   node --import tsx bench/llhls-glass.ts [--seconds 30]
import { parseArgs } from "node:util";
import { frameReader, makeFrameNumberVideo } from "./support/frame-numbers.ts";
import { spawnFfmpeg } from "../core/ffmpeg.ts";
import { quantileOfSorted } from "../core/percentile.ts";
import { launchChromium } from "../test/support/browser.ts";
import { startWharf } from "../test/support/wharf.ts";
import { sleep, waitFor } from "../test/support/wait.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "30" }, warmup: { type: "string", default: "8" } } });
const FPS = 30;
const LOOP_FRAMES = 300;
const Y4M = "/tmp/wharf-llhls-glass-640x360.y4m";

async function main(): Promise<void> {
  await makeFrameNumberVideo(Y4M, { fps: FPS, seconds: LOOP_FRAMES / FPS, digits: true });
  const w = await startWharf({ env: { WHARF_LOG_LEVEL: "warn" } });
  const browser = await launchChromium(["--disable-background-timer-throttling", "--disable-renderer-backgrounding"]);
  try {
    const s = (await w.api("POST", "/v1/streams", { name: "llhls-glass", pipeline: "passthrough" })).body;
    // frame -> when the encoder had written it (progress reports), for T0.
    let t0 = Infinity;
    const pub = spawnFfmpeg([
      "-hide_banner", "-loglevel", "error", "-nostats", "-progress", "pipe:1", "-stats_period", "0.05",
      "-re", "-stream_loop", "-1", "-i", Y4M,
      "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
      "-map", "0:v", "-map", "1:a",
      "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
      "-g", String(FPS), "-keyint_min", String(FPS), "-sc_threshold", "0", "-b:v", "1500k",
      "-c:a", "aac", "-b:a", "64k", "-ar", "48000",
      "-f", "flv", s.rtmpUrl,
    ], { label: "glass publisher" });
    let pending = "";
    pub.stdout.setEncoding("utf8");
    pub.stdout.on("data", (text: string) => {
      const now = Date.now();
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        const m = /^frame=(\d+)$/.exec(line.trim());
        if (m && Number(m[1]) > 0) t0 = Math.min(t0, now - (Number(m[1]) * 1000) / FPS);
      }
    });
    try {
      await waitFor("publisher live", async () => (await w.api("GET", `/v1/streams/${s.id}`)).body.state === "live", 20000, 100);
      const page = await browser.newPage();
      await page.goto(`${w.http}/player.html?stream=${s.id}`, { waitUntil: "domcontentloaded" });
      await page.waitForFunction(() => (document.querySelector("#video") as HTMLVideoElement).currentTime > 0.5, undefined, { timeout: 30000 });
      await sleep(Number(values.warmup) * 1000);
      await page.evaluate(frameReader("#video"));
      await sleep(Number(values.seconds) * 1000);
      const seen = (await page.evaluate("window.__seen")) as Array<[number, number]>;
      const firsts = seen.filter(([n], i) => i === 0 || seen[i - 1]![0] !== n);
      const lat: number[] = [];
      for (const [n, t] of firsts) {
        // The file loops every LOOP_FRAMES frames: frame k carries k mod LOOP_FRAMES; take the latest k encoded by t.
        const latest = Math.floor(((t - t0) * FPS) / 1000);
        const k = latest - ((((latest - n) % LOOP_FRAMES) + LOOP_FRAMES) % LOOP_FRAMES);
        if (k >= 0) lat.push(t - (t0 + (k * 1000) / FPS));
      }
      lat.sort((a, b) => a - b);
      const q = (p: number) => quantileOfSorted(lat, p);
      const buffered = await page.evaluate(() => {
        const v = document.querySelector("#video") as HTMLVideoElement;
        return { width: v.videoWidth, height: v.videoHeight, ahead: v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : 0, currentTime: v.currentTime };
      });
      const media = await (await fetch(s.hlsUrl.replace("index.m3u8", "source/index.m3u8"))).text();
      const pdt = Date.parse(/#EXT-X-PROGRAM-DATE-TIME:(\S+)/.exec(media)![1]!);
      const msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(media)![1]);
      // A check of the clock arithmetic: the listed segment's PROGRAM-DATE-TIME (arrival at Wharf) against T0.
      console.error(`check: encoder T0 ${new Date(t0).toISOString()}; segment ${msn} arrived T0 + ${((pdt - t0) / 1000).toFixed(2)} s; player ${buffered.ahead.toFixed(2)} s behind its buffered end`);
      console.log(`frames displayed ${firsts.length} in ${values.seconds} s (viewer ${buffered.width}x${buffered.height})`);
      console.log(`glass-to-glass RTMP -> LL-HLS (hls.js lowLatencyMode, parts 0.334 s, segments 2 s): p50 ${q(0.5).toFixed(0)} ms, p95 ${q(0.95).toFixed(0)} ms, min ${lat[0]!.toFixed(0)} ms, max ${lat.at(-1)!.toFixed(0)} ms`);
    } finally {
      await pub.stop();
    }
  } finally {
    await browser.close();
    await w.stop();
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
