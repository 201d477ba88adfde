// Gateway overhead of batch AI: text-to-image through Wharf vs straight to a
// development orchestrator whose text-to-image costs nothing (--ai-zero-cost), at
// 1, 16 and 64 concurrent clients. Both are separate processes (real sockets).
//
//   node --import tsx bench/ai-overhead.ts [--seconds 5] [--levels 1,16,64] [--data-uris] [--reference] [--payments] [--built] [--profile DIR]
//
// --built runs Wharf from the compiled dist/ (`npm run build` first), as the production image does.
// --profile DIR writes a V8 CPU profile of the Wharf process to DIR when it stops (of the paying Wharf to DIR/paying).
// --reference also measures a bare proxy making the same hops (bench/support/reference-gateway.ts),
// interleaved with the other two: how much of the overhead any gateway process costs on this machine.
// --payments also runs a second Wharf that pays a ticket-verifying orchestrator through the development
// remote signer (signer on loopback), interleaved with the free path: what paying adds per request.
//
// Each point measures both paths in alternating 1 s slices (--seconds of each), so a
// shared machine whose speed drifts does not favour one path. The load generator sends
// over undici's dispatch API (protocol/http-exchange.ts) to keep its own CPU use low:
// it shares the 2 cores with Wharf and the orchestrator.
//
// Through Wharf a request is: API-key auth, validation, orchestrator selection, the
// orchestrator call (Livepeer headers), the usage record (committed before the answer)
// and the answer with Wharf's result URL; the result is then copied from the
// orchestrator (GET of its URL; with --data-uris, decoded before the answer instead).
import { parseArgs } from "node:util";
import type { Agent } from "undici";
import { exchange } from "../protocol/http-exchange.ts";
import { getOrchestrator, closeGrpcClients } from "../protocol/grpc-client.ts";
import { aiRequestHeaders } from "../protocol/segment-header.ts";
import { Capability } from "../protocol/capabilities.ts";
import { startWharf } from "../test/support/wharf.ts";
import { startOrchestratorProcess } from "../test/support/orchestrator.ts";
import { spawnListening, type ListeningProcess } from "../test/support/listening-process.ts";
import { loadInterleaved } from "./support/load.ts";
import { cpuSeconds } from "./support/proc.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" }, levels: { type: "string", default: "1,16,64" }, "data-uris": { type: "boolean", default: false },
    reference: { type: "boolean", default: false }, payments: { type: "boolean", default: false }, built: { type: "boolean", default: false }, profile: { type: "string" },
  },
});
const SECONDS = Number(values.seconds);
const LEVELS = values.levels!.split(",").map(Number);
const BODY = JSON.stringify({ model_id: "", prompt: "benchmark", width: 512, height: 512 });

/** CPU time (ms) a process has used so far (NaN where /proc is absent). */
const cpuMs = (pid: number | undefined) => cpuSeconds(pid) * 1000;

/** A signer, an orchestrator that requires payment, and a Wharf paying it. */
async function startPayingPath() {
  const signer = await spawnListening("signer/main.ts", ["--port", "0", "--http", "--data-dir", `/tmp/wharf-bench-signer-${process.pid}`]);
  const orch = await startOrchestratorProcess(["--ai-zero-cost", "--ai-capacity", "100000", "--require-payment", "--ai-prices", JSON.stringify({ "text-to-image": 2 })], { http: true });
  const wharf = await startWharf({ env: { WHARF_ORCH_ADDR: orch.url, WHARF_REMOTE_SIGNER_URL: signer.url, WHARF_LOG_LEVEL: "warn" }, nodeArgs: values.profile ? ["--cpu-prof", "--cpu-prof-dir", `${values.profile}/paying`] : [], built: values.built });
  return {
    signer,
    orch,
    wharf,
    async stop() {
      await wharf.stop();
      await orch.kill("SIGTERM");
      signer.proc.kill("SIGTERM");
    },
  };
}

async function main(): Promise<void> {
  const freeOrchArgs = ["--ai-zero-cost", "--ai-capacity", "100000", ...(values["data-uris"] ? ["--ai-data-uris"] : [])];
  const orch = await startOrchestratorProcess(freeOrchArgs, { http: true });
  let reference: ListeningProcess | undefined;
  const paying = values.payments ? await startPayingPath() : undefined;
  // With --payments the free Wharf gets an orchestrator of its own, as the paying one has: the two
  // Wharfs' orchestrators are then loaded alike (the direct path's would be busy in two of three slices).
  const wharfOrch = paying ? await startOrchestratorProcess(freeOrchArgs, { http: true }) : orch;
  const wharf = await startWharf({ env: { WHARF_ORCH_ADDR: wharfOrch.url, WHARF_LOG_LEVEL: "warn" }, nodeArgs: values.profile ? ["--cpu-prof", "--cpu-prof-dir", values.profile] : [], built: values.built });
  try {
    const info = await getOrchestrator(orch.url);
    const headers = { ...aiRequestHeaders(Capability.TextToImage, "stabilityai/sdxl-turbo", info.authToken!), "content-type": "application/json" };
    const post = (base: string, hdrs: Record<string, string>) => {
      const u = new URL(base);
      return async (d: Agent) => (await exchange(d, { origin: u.origin, path: `${u.pathname.replace(/\/+$/, "")}/text-to-image`, method: "POST", headers: hdrs, body: BODY, timeoutMs: 30_000, maxBytes: 1 << 20 }).response).status;
    };
    const direct = post(info.transcoder!, headers);
    const toWharf = post(wharf.http, { authorization: `Bearer ${wharf.adminKey}`, "content-type": "application/json" });
    reference = values.reference
      ? await spawnListening("bench/support/reference-gateway.ts", [], { env: { ORCH_URL: info.transcoder!, ORCH_HEADERS: JSON.stringify(headers) } })
      : undefined;
    const sends: Record<string, (d: Agent) => Promise<number>> = { direct, wharf: toWharf };
    if (reference) sends.reference = post(reference.url, { "content-type": "application/json" });
    if (paying) sends.paid = post(paying.wharf.http, { authorization: `Bearer ${paying.wharf.adminKey}`, "content-type": "application/json" });
    // CPU time of each process while each target is loaded: Wharf's own, and the orchestrator's
    // (through Wharf it serves the call and the result download).
    const procs: Record<string, number | undefined> = { wharf: wharf.proc.pid, orch: orch.proc.pid, wharfOrch: wharfOrch.proc.pid, reference: reference?.proc.pid, paid: paying?.wharf.proc.pid, signer: paying?.signer.proc.pid, paidOrch: paying?.orch.proc.pid };
    let cpu: Record<string, number> = {};
    let mark: Record<string, number> = {};
    const onSlice = (target: string, phase: "start" | "end") => {
      for (const [name, pid] of Object.entries(procs)) {
        const now = cpuMs(pid);
        if (phase === "start") mark[name] = now;
        else cpu[`${target}:${name}`] = (cpu[`${target}:${name}`] ?? 0) + now - mark[name]!;
      }
    };
    const rows: string[] = [];
    rows.push("| clients | direct req/s | direct p50 / p99 ms | Wharf req/s | Wharf p50 / p99 ms | overhead p50 / p99 ms | CPU ms/req: Wharf / orchestrator (direct: orchestrator) | errors |");
    rows.push("|---|---|---|---|---|---|---|---|");
    const payRows = ["| clients | paying Wharf req/s | paying p50 / p99 ms | paying minus free Wharf p50 / p99 ms | CPU ms/req: paying Wharf / signer / paid orchestrator |", "|---|---|---|---|---|"];
    const refRows = ["| clients | reference req/s | reference p50 / p99 ms | reference overhead p50 / p99 ms | CPU ms/req: reference / orchestrator |", "|---|---|---|---|---|"];
    const f = (x: number) => x.toFixed(2);
    const f3 = (x: number) => x.toFixed(3);
    for (const c of LEVELS) {
      cpu = {};
      mark = {};
      const r = await loadInterleaved(c, SECONDS, 1000, sends, onSlice);
      const d = r.direct!;
      const w = r.wharf!;
      const per = (target: string, proc: string, n: number) => (cpu[`${target}:${proc}`] ?? NaN) / n;
      rows.push(`| ${c} | ${d.rps.toFixed(0)} | ${f(d.p50)} / ${f(d.p99)} | ${w.rps.toFixed(0)} | ${f(w.p50)} / ${f(w.p99)} | ${f(w.p50 - d.p50)} / ${f(w.p99 - d.p99)} | ${f3(per("wharf", "wharf", w.requests))} / ${f3(per("wharf", "wharfOrch", w.requests))} (${f3(per("direct", "orch", d.requests))}) | ${d.errors + w.errors} |`);
      process.stderr.write(`${rows.at(-1)}\n`);
      const p = r.paid;
      if (p) {
        payRows.push(`| ${c} | ${p.rps.toFixed(0)} | ${f(p.p50)} / ${f(p.p99)} | ${f(p.p50 - w.p50)} / ${f(p.p99 - w.p99)} | ${f3(per("paid", "paid", p.requests))} / ${f3(per("paid", "signer", p.requests))} / ${f3(per("paid", "paidOrch", p.requests))} |`);
        process.stderr.write(`${payRows.at(-1)}\n`);
      }
      const x = r.reference;
      if (x) {
        refRows.push(`| ${c} | ${x.rps.toFixed(0)} | ${f(x.p50)} / ${f(x.p99)} | ${f(x.p50 - d.p50)} / ${f(x.p99 - d.p99)} | ${f3(per("reference", "reference", x.requests))} / ${f3(per("reference", "orch", x.requests))} |`);
        process.stderr.write(`${refRows.at(-1)}\n`);
      }
    }
    process.stdout.write(`\ntext-to-image (512x512, zero-cost orchestrator${values["data-uris"] ? ", data URIs" : ", result URLs"}), ${SECONDS} x 1 s per path and point, interleaved\n\n${rows.join("\n")}\n`);
    if (paying) process.stdout.write(`\npaying Wharf (dev signer, ticket-verifying orchestrator, EV 8 gwei), measured in the same interleaving\n\n${payRows.join("\n")}\n`);
    if (reference) process.stdout.write(`\nreference gateway (bare proxy, same hops), measured in the same interleaving\n\n${refRows.join("\n")}\n`);
  } finally {
    await wharf.stop();
    await paying?.stop();
    reference?.proc.kill("SIGTERM");
    await orch.kill("SIGTERM");
    if (wharfOrch !== orch) await wharfOrch.kill("SIGTERM");
    await closeGrpcClients();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
