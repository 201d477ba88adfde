// Idle CPU of one Wharf process: what it costs with no stream and no request at all (the fixed
// part of the ingest bench's CPU figures, docs/benchmarks.md). All threads of the Wharf process,
// not its children (the dev orchestrators and signer of `npm start` are apart): on-CPU time from
// /proc/PID/task/*/schedstat, and voluntary context switches per second (each is one sleep, so
// one wake-up) per thread, over a window after a settle time.
//
//   npm run build && node --import tsx bench/idle-cpu.ts [--mode ingest|npm-start] [--settle 110] [--seconds 60] [--runs 3]
//
// --mode ingest: Wharf as bench/ingest.ts starts it (compiled dist/, no dev orchestrators).
// --mode npm-start: `npm start` with no configuration (sources through tsx, dev orchestrators and
//   signer started), only ports and the data directory set.
// The settle time matters: V8's memory reducer runs a few full collections once the startup's
// allocations stop (40–75 s after start here), which a shorter settle counts as idle cost.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { startWharf } from "../test/support/wharf.ts";
import { freePort } from "../test/support/ports.ts";

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "ingest" },
    settle: { type: "string", default: "110" },
    seconds: { type: "string", default: "60" },
    runs: { type: "string", default: "3" },
  },
});
const REPO = join(import.meta.dirname, "..");

interface ThreadSample { ns: number; switches: number }

function sample(pid: number): Map<string, ThreadSample> {
  const m = new Map<string, ThreadSample>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      m.set(tid, { ns, switches: Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0) });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return m;
}

async function startProcess(): Promise<{ pid: number; stop: () => Promise<unknown> }> {
  if (values.mode === "ingest") {
    const w = await startWharf({ built: true, env: { WHARF_LOG_LEVEL: "warn", WHARF_MAX_STREAMS_LIVE: "200", WHARF_RTMP_MAX_CONNECTIONS_PER_ADDRESS: "200" } });
    return { pid: w.proc.pid!, stop: () => w.stop() };
  }
  const dataDir = mkdtempSync(join(tmpdir(), "wharf-idle-"));
  const env = { ...process.env, WHARF_HTTP_PORT: String(await freePort()), WHARF_RTMP_PORT: String(await freePort()), WHARF_DATA_DIR: dataDir };
  const proc = spawn(process.execPath, ["--import", "tsx", "server/main.ts"], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const t0 = Date.now();
  while (!out.includes("Wharf is running")) {
    if (proc.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`Wharf did not start:\n${out}`);
    await sleep(200);
  }
  return {
    pid: proc.pid!,
    stop: async () => {
      proc.kill("SIGTERM");
      if (proc.exitCode === null) await new Promise((r) => proc.once("exit", r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

for (let run = 1; run <= Number(values.runs); run++) {
  const w = await startProcess();
  try {
    await sleep(Number(values.settle) * 1000);
    const a = sample(w.pid);
    const ta = process.hrtime.bigint();
    await sleep(Number(values.seconds) * 1000);
    const b = sample(w.pid);
    const wall = Number(process.hrtime.bigint() - ta) / 1e9;
    const rows = [...b].map(([tid, s]) => {
      const p = a.get(tid) ?? { ns: 0, switches: 0 };
      return { tid, pct: ((s.ns - p.ns) / 1e9 / wall) * 100, wakeups: (s.switches - p.switches) / wall };
    });
    const total = rows.reduce((n, r) => n + r.pct, 0);
    console.log(`run ${run} (${values.mode}): ${total.toFixed(2)} % of one core over ${wall.toFixed(0)} s; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
    for (const r of rows.sort((x, y) => y.pct - x.pct)) {
      if (r.pct < 0.005 && r.wakeups < 0.05) continue;
      console.log(`  ${r.tid === String(w.pid) ? "main thread" : `thread ${r.tid}`}: ${r.pct.toFixed(3)} %, ${r.wakeups.toFixed(1)} wake-ups/s`);
    }
  } finally {
    await w.stop();
  }
}
