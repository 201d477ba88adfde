// Two builds of Wharf side by side on the single-shot apps path: a baseline build (a copy of an
// earlier commit's dist/ inside the repository) against the current dist/, and the bare Node
// proxy, all three loaded in alternating one-second slices of the same run (16 clients), so a
// change's effect on Wharf's CPU per request and tail is told apart from the machine's drift.
// bench/apps-overhead.ts runs the path's target; unpaired runs of it minutes apart spread more
// than most changes move them.
//
//   git worktree add /tmp/base <commit> && (cd /tmp/base && npm ci && npm run build) && cp -r /tmp/base/dist dist-base
//   npm run build && node --import tsx bench/apps-build-ab.ts --baseline dist-base [--seconds 15] [--runs 4]
//
// Each build gets its own data directory, key and connections; the order of the two Wharf slices
// alternates between runs (the slice after another Wharf's ran a little faster in A/A runs), so
// use an even number of runs. CPU per request counts answered requests: compare the error counts too.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startWharf, type WharfProcess } from "../test/support/wharf.ts";
import { benchKey, postJson, sliceCpu, startAppsRig, startBareProxy } from "./support/apps-rig.ts";
import { loadInterleaved, type Send } from "./support/load.ts";

const { values } = parseArgs({ options: { baseline: { type: "string" }, seconds: { type: "string", default: "15" }, runs: { type: "string", default: "4" } } });
const entry = values.baseline ? join(values.baseline, "server/main.js") : undefined;
if (!entry || !existsSync(entry) || !existsSync("dist/server/main.js")) {
  console.error("usage: npm run build && node --import tsx bench/apps-build-ab.ts --baseline <a copy of an earlier dist/ inside the repository>");
  process.exit(2);
}
const SECONDS = Number(values.seconds);
const BODY = JSON.stringify({ prompt: "benchmark", n: 1 });
const APP = encodeURIComponent("example/json");

const rig = await startAppsRig();
const { orch } = rig;
const env = { WHARF_ORCH_ADDR: orch.url, WHARF_LOG_LEVEL: "warn" };
try {
  const base = await startWharf({ env, built: true, entry });
  rig.own(() => base.stop());
  const current = await startWharf({ env, built: true });
  rig.own(() => current.stop());
  const bare = await startBareProxy(rig);
  const ready = async (w: WharfProcess) => postJson(`${w.http}/v1/apps/${APP}/run/v1/json`, BODY, await benchKey(w));
  const sends = { bare: postJson(`${bare.url}/apps/json/app/v1/json`, BODY), baseline: await ready(base), current: await ready(current) };
  const pids = { bare: bare.proc.pid, baseline: base.proc.pid, current: current.proc.pid };
  console.log(`single-shot JSON, 16 clients, ${SECONDS} one-second slices per target per run`);
  for (let run = 1; run <= Number(values.runs); run++) {
    const order = run % 2 ? (["bare", "baseline", "current"] as const) : (["bare", "current", "baseline"] as const);
    const { cpu, onSlice } = sliceCpu<(typeof order)[number]>(pids);
    const r = await loadInterleaved(16, SECONDS, 1000, Object.fromEntries(order.map((n) => [n, sends[n]])) as Record<(typeof order)[number], Send>, onSlice);
    const perReq = (n: (typeof order)[number]) => cpu[n] / r[n].requests;
    console.log(`  run ${run} (slices: ${order.join(", ")})`);
    for (const n of ["bare", "baseline", "current"] as const) {
      const x = r[n];
      console.log(
        `    ${n.padEnd(8)} p50 ${x.p50.toFixed(2)} p99 ${x.p99.toFixed(2)} ms (${x.rps.toFixed(0)}/s, ${x.errors} errors)  CPU/request ${(perReq(n) * 1000).toFixed(1)} µs` +
          (n === "bare" ? "" : `  minus bare: p50 ${(x.p50 - r.bare.p50).toFixed(2)} p99 ${(x.p99 - r.bare.p99).toFixed(2)} ms, CPU x${(perReq(n) / perReq("bare")).toFixed(3)}`),
      );
    }
  }
} finally {
  await rig.stop();
}
