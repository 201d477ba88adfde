// RTMP -> HLS passthrough ingest, Wharf and nginx-rtmp side by side in one run: time to the first
// playlist listing a segment, CPU and memory of each server's process tree for N pushed streams,
// and (Wharf only) when the first LL-HLS part is served after the first keyframe.
//
// Needs Debian's nginx with the RTMP module (the script installs nothing; without it, it stops):
//   apt-get install nginx libnginx-mod-rtmp
//   npm run build && node --import tsx bench/ingest.ts [--streams 10,50] [--seconds 20] [--runs 5]
//   --load-only: skip the first-playlist phase (CPU and memory only; `--streams 10,10,10` repeats a count)
//   --warmup S: seconds each stream runs before CPU and memory are measured (default 35: steady state)
//   --profile DIR: V8 CPU profiles of Wharf's load phases into DIR (node --cpu-prof; the profiler costs CPU)
// Each load phase also prints each server's CPU per thread (user+system; Wharf's main thread and
// V8's helper threads, which run most of the garbage collection, apart).
//
// Wharf runs as production does, from the compiled dist/ (`--sources` runs server/main.ts through
// tsx instead, whose loader thread adds its own CPU).
//
// nginx runs in the foreground as the current user (daemon off, master_process off: one process)
// from a config written to a temp dir: `live on; hls on; hls_fragment 2s; hls_playlist_length 12s`,
// with its HLS directory served by its own http block. Wharf runs from the sources with its
// defaults (2 s segments, window 6, LL-HLS parts of 0.334 s). Each load phase starts fresh
// servers, so "memory added" is RSS after the streams ran minus RSS before the first push.
// Publishers are ffmpeg processes (`-re -stream_loop -1 -i file.flv -c copy -f flv`), children of
// this script: they are not counted; only the server processes and their descendants are.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runFfmpeg, spawnFfmpeg, type FfmpegProcess } from "../core/ffmpeg.ts";
import { quantile } from "../core/percentile.ts";
import { cpuSeconds } from "./support/proc.ts";
import { freePort } from "../test/support/ports.ts";
import { pushTestPattern } from "../test/support/publisher.ts";
import { sleep, waitFor } from "../test/support/wait.ts";
import { startWharf, type WharfProcess } from "../test/support/wharf.ts";

const { values } = parseArgs({
  options: {
    streams: { type: "string", default: "10,50" },
    seconds: { type: "string", default: "20" },
    runs: { type: "string", default: "5" },
    /** Seconds every stream runs before a load phase measures (see WARMUP_S). */
    warmup: { type: "string", default: "35" },
    sources: { type: "boolean", default: false },
    /** Skip the first-playlist phase (CPU/memory iterations). */
    "load-only": { type: "boolean", default: false },
    /** Write V8 CPU profiles of Wharf's load phases into this directory (node --cpu-prof). */
    profile: { type: "string" },
  },
});
const STREAM_COUNTS = values.streams.split(",").map(Number);
const MEASURE_S = Number(values.seconds);
const RUNS = Number(values.runs);
/**
 * A load phase measures streams in their steady state: after every stream has run this long, each
 * server's HLS store is full (Wharf keeps 14 segments, 28 s; nginx deletes fragments past its
 * playlist) and holds as many bytes as it will. Before that Wharf's memory is still growing by the
 * window's bytes, and the garbage collector runs more often while it does (`--warmup 5` measures
 * that first phase).
 */
const WARMUP_MS = Number(values.warmup) * 1000;
const NGINX = "/usr/sbin/nginx";
const RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
const LOAD_FILE = join(tmpdir(), "wharf-bench-720p30-2500k.flv");

// ---- process tree figures (Linux /proc) ----

function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

const treeCpuSeconds = (pid: number): number => descendants(pid).reduce((sum, p) => sum + (cpuSeconds(p) || 0), 0);

function treeRssBytes(pid: number): number {
  let sum = 0;
  for (const p of descendants(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) sum += Number(m[1]) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return sum;
}

/** User and system CPU seconds per thread name of `pid` (main thread, GC helpers, libuv workers ...). */
function threadCpu(pid: number): Map<string, { user: number; system: number }> {
  const out = new Map<string, { user: number; system: number }>();
  for (const p of descendants(pid)) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${p}/task/${tid}/stat`, "utf8");
        const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/\d+$/, "#");
        const key = tid === String(p) ? `main(${name})` : name;
        const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
        const t = out.get(key) ?? { user: 0, system: 0 };
        t.user += Number(fields[11]) / 100;
        t.system += Number(fields[12]) / 100;
        out.set(key, t);
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

function threadReport(before: Map<string, { user: number; system: number }>, after: Map<string, { user: number; system: number }>, seconds: number): string {
  const pct = (x: number) => ((x / seconds) * 100).toFixed(1);
  return [...after]
    .map(([name, a]) => ({ name, user: a.user - (before.get(name)?.user ?? 0), system: a.system - (before.get(name)?.system ?? 0) }))
    .filter((t) => t.user + t.system > 0)
    .sort((x, y) => y.user + y.system - (x.user + x.system))
    .map((t) => `${t.name} ${pct(t.user)}u+${pct(t.system)}s`)
    .join(", ");
}

function dirBytes(dir: string): number {
  let sum = 0;
  for (const f of existsSync(dir) ? readdirSync(dir) : []) sum += statSync(join(dir, f)).size;
  return sum;
}

// ---- the two servers behind one shape ----

interface Server {
  name: string;
  pid: number;
  /** A fresh publish URL and the media playlist URL it will appear at. */
  newStream(label: string): Promise<{ rtmpUrl: string; playlistUrl: string; partUrl?: string }>;
  /** Bytes of HLS segments the server keeps (Wharf: in memory; nginx: files on disk). */
  heldBytes(): Promise<number>;
  stop(): Promise<void>;
}

async function startNginx(): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-bench-nginx-"));
  const hls = join(dir, "hls");
  mkdirSync(hls);
  const rtmpPort = await freePort();
  const httpPort = await freePort();
  writeFileSync(
    join(dir, "nginx.conf"),
    `load_module ${RTMP_MODULE};
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
rtmp {
  server {
    listen 127.0.0.1:${rtmpPort};
    application live { live on; hls on; hls_path ${hls}; hls_fragment 2s; hls_playlist_length 12s; }
  }
}
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:${httpPort};
    location /hls/ { alias ${hls}/; add_header Cache-Control no-cache; }
  }
}
`,
  );
  const proc: ChildProcess = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf")], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr!.on("data", (d) => (err += d));
  await waitFor("nginx listening", async () => {
    if (proc.exitCode !== null) throw new Error(`nginx exited: ${err}`);
    return (await fetch(`http://127.0.0.1:${httpPort}/hls/none.m3u8`).catch(() => undefined)) !== undefined;
  }, 10000, 50);
  let n = 0;
  return {
    name: "nginx-rtmp",
    pid: proc.pid!,
    async newStream(label) {
      const key = `${label}-${n++}`;
      return { rtmpUrl: `rtmp://127.0.0.1:${rtmpPort}/live/${key}`, playlistUrl: `http://127.0.0.1:${httpPort}/hls/${key}.m3u8` };
    },
    heldBytes: async () => dirBytes(hls),
    async stop() {
      proc.kill("SIGQUIT");
      await Promise.race([new Promise((r) => proc.once("exit", r)), sleep(3000)]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startWharfServer(): Promise<Server> {
  const nodeArgs = values.profile ? ["--cpu-prof", "--cpu-prof-dir", values.profile] : undefined;
  const w: WharfProcess = await startWharf({ built: !values.sources, nodeArgs, env: { WHARF_LOG_LEVEL: "warn", WHARF_MAX_STREAMS_LIVE: "200", WHARF_RTMP_MAX_CONNECTIONS_PER_ADDRESS: "200" } });
  return {
    name: "Wharf",
    pid: w.proc.pid!,
    async newStream(label) {
      const res = await w.api("POST", "/v1/streams", { name: label, pipeline: "passthrough" });
      if (res.status !== 201) throw new Error(`stream not created: ${res.status} ${JSON.stringify(res.body)}`);
      const media = res.body.hlsUrl.replace("index.m3u8", "source/index.m3u8");
      return { rtmpUrl: res.body.rtmpUrl, playlistUrl: media, partUrl: media.replace("index.m3u8", "0.0.ts") };
    },
    async heldBytes() {
      const text = await (await fetch(`${w.http}/metrics`)).text();
      return Number(/^wharf_hls_held_bytes (\S+)$/m.exec(text)?.[1] ?? NaN);
    },
    stop: async () => void (await w.stop()),
  };
}

// ---- measurements ----

async function hasSegment(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url);
    const text = await res.text();
    return res.status === 200 && text.includes("#EXTINF") ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Push start -> a media playlist listing a segment; for Wharf also first keyframe -> first part served. */
async function firstPlaylist(server: Server, run: number): Promise<{ playlistMs: number; partMs?: number }> {
  const s = await server.newStream(`first-${run}`);
  const t0 = Date.now();
  const pub = pushTestPattern(s.rtmpUrl, { seconds: 8, size: "640x360" });
  let partAt: number | undefined;
  const partPoll = s.partUrl
    ? (async () => {
        while (partAt === undefined && Date.now() - t0 < 8000) {
          const res = await fetch(s.partUrl!).catch(() => undefined);
          if (res?.status === 200) partAt = Date.now();
          else await sleep(10);
        }
      })()
    : Promise.resolve();
  try {
    let text: string | undefined;
    while (!(text = await hasSegment(s.playlistUrl))) {
      if (Date.now() - t0 > 15000) throw new Error(`${server.name}: no playlist 15 s after the push started`);
      await sleep(20);
    }
    const playlistMs = Date.now() - t0;
    await partPoll;
    // The segment's PROGRAM-DATE-TIME is when its first keyframe reached Wharf (same clock).
    const pdt = /#EXT-X-PROGRAM-DATE-TIME:(\S+)/.exec(text)?.[1];
    const partMs = partAt !== undefined && pdt ? partAt - Date.parse(pdt) : undefined;
    return { playlistMs, partMs };
  } finally {
    await pub.stop();
  }
}

async function loadFile(): Promise<void> {
  if (existsSync(LOAD_FILE)) return;
  // 60 s of 720p30 H.264 at 2.5 Mb/s (2 s GOP) + AAC 128k, encoded once and reused.
  await runFfmpeg([
    "-hide_banner", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=60",
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=60",
    "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k",
    "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-f", "flv", LOAD_FILE,
  ], { timeoutMs: 600000 });
}

interface LoadResult {
  streams: number;
  served: number;
  cpuPercent: number;
  rssAddedBytes: number;
  heldBytes: number;
}

async function load(server: Server, streams: number): Promise<LoadResult> {
  await sleep(1500);
  const rssBefore = treeRssBytes(server.pid);
  const pubs: FfmpegProcess[] = [];
  try {
    const targets: Array<{ rtmpUrl: string; playlistUrl: string }> = [];
    for (let i = 0; i < streams; i++) {
      const s = await server.newStream(`load-${i}`);
      targets.push(s);
      pubs.push(spawnFfmpeg(["-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", LOAD_FILE, "-c", "copy", "-f", "flv", s.rtmpUrl], { label: "bench publisher" }));
    }
    await waitFor(`${streams} playlists on ${server.name}`, async () => (await Promise.all(targets.map((t) => hasSegment(t.playlistUrl)))).every(Boolean), 60000, 500);
    await sleep(WARMUP_MS);
    const cpu0 = treeCpuSeconds(server.pid);
    const threads0 = threadCpu(server.pid);
    const t0 = performance.now();
    await sleep(MEASURE_S * 1000);
    const elapsed = (performance.now() - t0) / 1000;
    const cpuPercent = ((treeCpuSeconds(server.pid) - cpu0) / elapsed) * 100;
    console.error(`  ${server.name} threads (% of a core, user+system): ${threadReport(threads0, threadCpu(server.pid), elapsed)}`);
    const rssAddedBytes = treeRssBytes(server.pid) - rssBefore;
    const heldBytes = await server.heldBytes();
    const served = (await Promise.all(targets.map((t) => hasSegment(t.playlistUrl)))).filter(Boolean).length;
    return { streams, served, cpuPercent, rssAddedBytes, heldBytes };
  } finally {
    await Promise.all(pubs.map((p) => p.stop(1000)));
  }
}

// ---- report ----

const mb = (b: number) => (b / 1048576).toFixed(1);
const med = (xs: number[]) => quantile(xs, 0.5);

async function main(): Promise<void> {
  if (!existsSync(NGINX) || !existsSync(RTMP_MODULE)) {
    console.error(`nginx-rtmp not found (${NGINX}, ${RTMP_MODULE}): apt-get install nginx libnginx-mod-rtmp, then run again. Nothing measured.`);
    process.exitCode = 2;
    return;
  }
  if (!values.sources && !existsSync(join(import.meta.dirname, "..", "dist", "server", "main.js"))) {
    console.error("dist/server/main.js is missing: run `npm run build` first (or pass --sources). Nothing measured.");
    process.exitCode = 2;
    return;
  }
  await loadFile();

  if (!values["load-only"]) console.error("first playlist: starting both servers");
  const servers = values["load-only"] ? [] : [await startNginx(), await startWharfServer()];
  const first = new Map<string, Array<{ playlistMs: number; partMs?: number }>>(["nginx-rtmp", "Wharf"].map((name) => [name, []]));
  try {
    for (let run = 0; run < (values["load-only"] ? 0 : RUNS); run++) {
      // Alternate who goes first, so drift in the machine's speed hits both alike.
      for (const s of run % 2 ? [...servers].reverse() : servers) {
        const r = await firstPlaylist(s, run);
        first.get(s.name)!.push(r);
        console.error(`  run ${run + 1} ${s.name}: playlist ${r.playlistMs} ms${r.partMs !== undefined ? `, first part ${r.partMs} ms after the first keyframe` : ""}`);
        await sleep(1000);
      }
    }
  } finally {
    for (const s of servers) await s.stop();
  }

  const loads = new Map<string, LoadResult[]>();
  for (const n of STREAM_COUNTS) {
    for (const start of [startNginx, startWharfServer]) {
      const server = await start();
      try {
        console.error(`load: ${n} streams on ${server.name}`);
        const r = await load(server, n);
        loads.set(server.name, [...(loads.get(server.name) ?? []), r]);
        console.error(`  ${server.name}: ${r.served}/${n} served, CPU ${r.cpuPercent.toFixed(1)} %, RSS +${mb(r.rssAddedBytes)} MB, HLS bytes held ${mb(r.heldBytes)} MB`);
      } finally {
        await server.stop();
      }
    }
  }

  const rows: string[][] = [];
  const f = (name: string) => first.get(name)!;
  if (!values["load-only"]) rows.push(["push start -> first playlist with a segment, median of " + RUNS, `${(med(f("nginx-rtmp").map((r) => r.playlistMs)) / 1000).toFixed(2)} s`, `${(med(f("Wharf").map((r) => r.playlistMs)) / 1000).toFixed(2)} s`]);
  const parts = values["load-only"] ? [] : f("Wharf").map((r) => r.partMs).filter((x): x is number => x !== undefined);
  if (!values["load-only"]) rows.push(["first keyframe -> first LL-HLS part served, median (max)", "no LL-HLS", `${(med(parts) / 1000).toFixed(2)} s (${(Math.max(...parts) / 1000).toFixed(2)} s)`]);
  for (const [i, n] of STREAM_COUNTS.entries()) {
    const a = loads.get("nginx-rtmp")![i]!;
    const b = loads.get("Wharf")![i]!;
    const cpu = (r: LoadResult) => `${r.cpuPercent.toFixed(1)} % (${(r.cpuPercent / n).toFixed(2)} %/stream)`;
    rows.push([`CPU, ${n} streams, % of one core (served)`, `${cpu(a)} ${a.served}/${n}`, `${cpu(b)} ${b.served}/${n}`]);
    const mem = (r: LoadResult) => `${mb(r.rssAddedBytes)} MB (${mb(r.rssAddedBytes / n)} MB/stream)`;
    rows.push([`RSS added, ${n} streams`, mem(a), mem(b)]);
    rows.push([`HLS segment bytes held, ${n} streams`, `${mb(a.heldBytes)} MB on disk`, `${mb(b.heldBytes)} MB in memory`]);
    rows.push([`RSS added minus HLS bytes held in memory, per stream`, `${mb(a.rssAddedBytes / n)} MB`, `${mb((b.rssAddedBytes - b.heldBytes) / n)} MB`]);
  }
  console.log("| figure | nginx-rtmp | Wharf |\n|---|---|---|");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}

await main();
