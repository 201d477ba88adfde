// What the dashboard page costs the browser: Wharf runs in this process (two development
// orchestrators as processes, a light batch AI load), with 50 SYNTHETIC live streams injected
// into the dashboard's sampler (a bench-only hook: 50 ffmpeg publishers would need more than the
// machine's 2 cores) and a full hour of history, so the page opens on 3600-point charts and gets
// one frame a second for 50 streams. Headless Chromium shows each section for `--seconds`; the
// CPU of its renderer process(es) (from /proc) and the page's main-thread task time (CDP
// Performance.getMetrics TaskDuration) are printed as % of one core.
//
//   node --import tsx bench/dashboard-render.ts [--seconds 30] [--streams 50] [--tabs overview,streams,orchestrators]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { launchChromium } from "../test/support/browser.ts";
import { freePort } from "../test/support/ports.ts";
import { sleep } from "../test/support/wait.ts";
import { cpuSeconds } from "./support/proc.ts";
import { loadConfig } from "../server/config/load.ts";
import { startGateway } from "../server/gateway.ts";
import type { StreamSample } from "../server/dashboard/index.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "30" },
    streams: { type: "string", default: "50" },
    tabs: { type: "string", default: "overview,streams,orchestrators" },
  },
});
const SECONDS = Number(values.seconds);
const STREAMS = Number(values.streams);
const ADMIN_KEY = "bench-dashboard-admin-key-0123456789";

/** Descendant processes of `root` (from /proc ppid links). */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${d}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
      (children.get(ppid) ?? children.set(ppid, []).get(ppid)!).push(Number(d));
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

function chromiumProcesses(): { renderers: number[]; others: number[] } {
  const renderers: number[] = [];
  const others: number[] = [];
  for (const pid of descendants(process.pid)) {
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (!/chrom/i.test(cmd)) continue;
    (cmd.includes("--type=renderer") ? renderers : others).push(pid);
  }
  return { renderers, others };
}

const sum = (pids: number[]) => pids.reduce((s, p) => s + (cpuSeconds(p) || 0), 0);

/** Synthetic streams: bitrates that wander, now and then a viewer more or less, an orchestrator each. */
function syntheticStreams(n: number, orchestrators: () => string[]): () => StreamSample[] {
  const startedAt = Date.now() - 20 * 60_000;
  const state = Array.from({ length: n }, (_, i) => ({ bps: 800_000 + (i % 7) * 300_000, hls: i % 5, webrtc: i % 3, swaps: 0 }));
  return () => {
    const orchs = orchestrators();
    return state.map((s, i) => {
      s.bps = Math.max(100_000, s.bps + (Math.random() - 0.5) * 100_000);
      if (Math.random() < 0.05) s.hls = Math.max(0, s.hls + (Math.random() < 0.5 ? -1 : 1));
      const pipeline = i % 3 === 0 ? "live-video-to-video" : i % 3 === 1 ? "transcode" : "passthrough";
      return {
        id: `bench_${i}`,
        name: `bench stream ${i}`,
        pipeline,
        protocol: i % 4 === 0 ? "whip" : "rtmp",
        ownerKeyId: null,
        startedAt,
        bitrateBps: Math.round(s.bps),
        fps: 29.97 + Math.random() * 0.06,
        video: "h264 1280x720",
        viewers: { hls: s.hls, webrtc: s.webrtc },
        orchestrator: pipeline === "passthrough" ? null : orchs[i % Math.max(1, orchs.length)] ?? null,
        standby: pipeline === "live-video-to-video" ? orchs[(i + 1) % Math.max(1, orchs.length)] ?? null : null,
        swaps: s.swaps,
        state: pipeline === "live-video-to-video" ? "running" : null,
      };
    });
  };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "wharf-bench-dashboard-"));
  const [httpPort, rtmpPort] = [await freePort(), await freePort()];
  const config = loadConfig({
    env: { WHARF_LOG_LEVEL: "warn" },
    argv: ["--http-port", String(httpPort), "--rtmp-port", String(rtmpPort), "--host", "127.0.0.1", "--data-dir", dataDir, "--admin-key", ADMIN_KEY, "--dev-orchestrators", "2"],
  });
  const gw = await startGateway(config);
  const base = `http://127.0.0.1:${httpPort}`;
  const sampler = gw.dashboard.sampler;
  sampler.injectSyntheticStreams(syntheticStreams(STREAMS, () => gw.orchestrators.addresses()));
  sampler.fillSyntheticHistory(3600);

  // A light batch AI load (about 5 requests a second) and a synthetic swap event every 5 s.
  let running = true;
  const load = (async () => {
    while (running) {
      await fetch(`${base}/text-to-image`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ prompt: "bench", width: 64, height: 64 }),
      }).then((r) => r.arrayBuffer(), () => undefined);
      await sleep(200);
    }
  })();
  const swaps = setInterval(() => {
    const i = Math.floor(Math.random() * STREAMS);
    const [from = "a", to = "b"] = gw.orchestrators.addresses();
    gw.events.publish("stream.orchestrator_swap", { streamId: `bench_${i}`, reason: "no-output", detail: "synthetic (bench)", from, to });
  }, 5000);

  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.addInitScript((key) => sessionStorage.setItem("wharf.adminKey", key), ADMIN_KEY);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  const taskSeconds = async () => ((await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "TaskDuration")?.value ?? NaN);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto(`${base}/dashboard.html`);
  await page.waitForFunction((n) => (window as any).wharfDashboard?.store.latest("streams.live") >= n, STREAMS, { timeout: 30_000 });
  const rows: string[] = [];
  console.log(`dashboard: ${STREAMS} synthetic live streams, ${sampler.window.seriesCount} series x ${sampler.window.length} points, ${SECONDS} s per section`);
  for (const tab of values.tabs!.split(",")) {
    await page.click(`nav button[data-tab=${tab}]`);
    await sleep(3000); // the section's charts are built, the first renders are done
    const procs = chromiumProcesses();
    const r0 = sum(procs.renderers);
    const o0 = sum(procs.others);
    const t0 = await taskSeconds();
    const frames0 = await page.evaluate(() => (window as any).wharfDashboard.store.pushes as number);
    const w0 = performance.now();
    await sleep(SECONDS * 1000);
    const wall = (performance.now() - w0) / 1000;
    const renderer = ((sum(procs.renderers) - r0) / wall) * 100;
    const others = ((sum(procs.others) - o0) / wall) * 100;
    const task = (((await taskSeconds()) - t0) / wall) * 100;
    const frames = (await page.evaluate(() => (window as any).wharfDashboard.store.pushes as number)) - frames0;
    const points = await page.evaluate(() => {
      const d = (window as any).wharfDashboard;
      return Object.values(d.charts).reduce((n: number, c: any) => Math.max(n, c.points), 0);
    });
    rows.push(`| ${tab} | ${renderer.toFixed(1)} % | ${task.toFixed(1)} % | ${others.toFixed(1)} % | ${points} | ${(frames / wall).toFixed(2)} |`);
  }
  console.log("\n| section | renderer CPU (/proc) | page main-thread tasks (CDP TaskDuration) | rest of Chromium (browser, GPU/compositor, network) | points per chart | frames/s |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
  if (errors.length) console.log(`page errors: ${errors.join("; ")}`);

  running = false;
  clearInterval(swaps);
  await load;
  await browser.close();
  await gw.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
