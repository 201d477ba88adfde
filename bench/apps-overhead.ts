// Gateway overhead of apps: a single-shot JSON request through Wharf vs straight to the development
// orchestrator's app proxy (same runner behind both), at 16 concurrent clients (--levels), and the
// WebSocket message round trip added by Wharf's session proxy (through Wharf vs to the orchestrator's
// session URL directly). A bare Node proxy (bench/support/bare-app-proxy.ts: streams HTTP and pipes
// WebSocket bytes, nothing else) is measured in the same interleaving, so "Wharf's overhead" can be
// told apart from "one more process and hop on this machine". A second, identical bare proxy
// ("bare 2") is loaded in the same interleaving as a control: how far two copies of the same
// program land apart in one run is the measurement's own spread on this machine, the yardstick for
// Wharf's difference. The order of the slices changes from round to round so that each path
// follows each other one equally often (load.ts, balancedOrders). Every program is a separate
// process; the orchestrator is unpaid, so the numbers are the proxying alone.
//
//   node --import tsx bench/apps-overhead.ts [--seconds 5] [--levels 16] [--ws-messages 2000] [--built] [--profile DIR] [--node-args="--flag …"]
// --built runs Wharf from the compiled dist/ (`npm run build` first), as the production image does.
// --profile DIR writes a V8 CPU profile of the Wharf process to DIR when it stops. --node-args adds
// Node/V8 flags to the Wharf process (GC settings, say), space-separated.
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { quantileOfSorted } from "../core/percentile.ts";
import { startWharf } from "../test/support/wharf.ts";
import { benchKey, postJson, sliceCpu, startAppsRig, startBareProxy } from "./support/apps-rig.ts";
import { loadInterleaved } from "./support/load.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" }, levels: { type: "string", default: "16" }, "ws-messages": { type: "string", default: "2000" }, profile: { type: "string" }, built: { type: "boolean", default: false }, "node-args": { type: "string", default: "" } } });
const SECONDS = Number(values.seconds);
const LEVELS = values.levels!.split(",").map(Number);
const WS_MESSAGES = Number(values["ws-messages"]);
const BODY = JSON.stringify({ prompt: "benchmark", n: 1 });
const APP = encodeURIComponent("example/json");

async function wsRoundTrips(url: string, headers: Record<string, string>, n: number): Promise<number[]> {
  const ws = new WebSocket(url, { headers });
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  const lat: number[] = [];
  for (let i = 0; i < n + 100; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      ws.once("message", () => resolve());
      ws.send(`m${i}`);
    });
    if (i >= 100) lat.push(performance.now() - t0); // the first 100 warm up
  }
  ws.close();
  return lat.sort((a, b) => a - b);
}

const rig = await startAppsRig();
const { orch } = rig;
try {
  const wharf = await startWharf({ env: { WHARF_ORCH_ADDR: orch.url, WHARF_LOG_LEVEL: "warn" }, nodeArgs: [...(values.profile ? ["--cpu-prof", "--cpu-prof-dir", values.profile] : []), ...values["node-args"]!.split(" ").filter(Boolean)], built: values.built });
  rig.own(() => wharf.stop());
  const bare = await startBareProxy(rig);
  const bare2 = await startBareProxy(rig);
  const key = await benchKey(wharf);
  const post = (url: string) => postJson(url, BODY, key);
  console.log(`single-shot JSON, ${SECONDS} s per path per level`);
  for (const c of LEVELS) {
    // CPU of the proxy process while its own path is loaded (the other paths' slices excluded).
    const { cpu, onSlice } = sliceCpu<"direct" | "bare" | "wharf" | "bare2">({ bare: bare.proc.pid, wharf: wharf.proc.pid, bare2: bare2.proc.pid });
    const r = await loadInterleaved(c, SECONDS, 1000, {
      direct: post(`${orch.url}/apps/json/app/v1/json`),
      bare: post(`${bare.url}/apps/json/app/v1/json`),
      wharf: post(`${wharf.http}/v1/apps/${APP}/run/v1/json`),
      bare2: post(`${bare2.url}/apps/json/app/v1/json`),
    }, onSlice, { balanced: true });
    const row = (name: string, x: { p50: number; p99: number; rps: number; errors: number }) =>
      `    ${name.padEnd(6)} p50 ${x.p50.toFixed(2)} p99 ${x.p99.toFixed(2)} ms (${x.rps.toFixed(0)}/s, ${x.errors} errors)` +
      (name === "direct" ? "" : `  added p50 ${(x.p50 - r.direct.p50).toFixed(2)} p99 ${(x.p99 - r.direct.p99).toFixed(2)} ms`);
    console.log(`  ${c} clients\n${row("direct", r.direct)}\n${row("bare", r.bare)}\n${row("wharf", r.wharf)}\n${row("bare 2", r.bare2)}`);
    console.log(`    wharf minus bare proxy: p50 ${(r.wharf.p50 - r.bare.p50).toFixed(2)} p99 ${(r.wharf.p99 - r.bare.p99).toFixed(2)} ms`);
    console.log(`    control, bare 2 minus bare (the same program twice): p50 ${(r.bare2.p50 - r.bare.p50).toFixed(2)} p99 ${(r.bare2.p99 - r.bare.p99).toFixed(2)} ms`);
    // Slices include an unrecorded ramp, so this is an upper bound per recorded request.
    const perRequest = (n: "bare" | "wharf" | "bare2") => (cpu[n] / r[n].requests).toFixed(3);
    console.log(`    proxy CPU per request: bare ${perRequest("bare")} ms, wharf ${perRequest("wharf")} ms, bare 2 ${perRequest("bare2")} ms`);
  }
  // WebSocket: one session through Wharf; its orchestrator URL directly for comparison.
  const s = (await wharf.api("POST", `/v1/apps/${encodeURIComponent("example/echo")}/sessions`, undefined, key)).body;
  const direct = (await (await fetch(`${orch.url}/apps/echo/session`, { method: "POST" })).json()) as { app_url: string };
  const viaOrch = await wsRoundTrips(`${direct.app_url.replace(/^http/, "ws")}/v1/ws`, {}, WS_MESSAGES);
  const viaBare = await wsRoundTrips(`${bare.url.replace(/^http/, "ws")}${new URL(direct.app_url).pathname}/v1/ws`, {}, WS_MESSAGES);
  const viaWharf = await wsRoundTrips(`${s.wsUrl}v1/ws`, { authorization: `Bearer ${key}` }, WS_MESSAGES);
  const q = (l: number[], p: number) => quantileOfSorted(l, p);
  const ws = (name: string, l: number[]) =>
    `    ${name.padEnd(12)} p50 ${q(l, 0.5).toFixed(3)} p99 ${q(l, 0.99).toFixed(3)} ms` + (l === viaOrch ? "" : `  added p50 ${(q(l, 0.5) - q(viaOrch, 0.5)).toFixed(3)} ms`);
  console.log(`WebSocket round trip (${WS_MESSAGES} messages, one after another)\n${ws("orchestrator", viaOrch)}\n${ws("bare", viaBare)}\n${ws("wharf", viaWharf)}`);
} finally {
  await rig.stop();
}
