// Gateway overhead of batch AI: text-to-image through Wharf vs straight to a
// development orchestrator whose text-to-image costs nothing (--ai-zero-cost), at
// 1, 16 and 64 concurrent clients. Both are separate processes (real sockets).
//
//   node --import tsx bench/ai-overhead.ts [--seconds 5] [--levels 1,16,64] [--data-uris] [--profile DIR]
//
// --profile DIR writes a V8 CPU profile of the Wharf process to DIR when it stops.
//
// Through Wharf a request is: API-key auth, validation, orchestrator selection, the
// orchestrator call (Livepeer headers), the usage record (committed before the answer)
// and the answer with Wharf's result URL; the result is then copied from the
// orchestrator (GET of its URL; with --data-uris, decoded before the answer instead).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";
import { getOrchestrator, closeGrpcClients } from "../protocol/grpc-client.ts";
import { aiRequestHeaders } from "../protocol/segment-header.ts";
import { Capability } from "../protocol/capabilities.ts";
import { REPO, startWharf } from "../test/support/wharf.ts";
import { load } from "./support/load.ts";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "5" }, levels: { type: "string", default: "1,16,64" }, "data-uris": { type: "boolean", default: false }, profile: { type: "string" } },
});
const SECONDS = Number(values.seconds);
const LEVELS = values.levels!.split(",").map(Number);
const BODY = JSON.stringify({ model_id: "", prompt: "benchmark", width: 512, height: 512 });

/** CPU time (ms) a process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuMs(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, USER_HZ = 100
  } catch {
    return NaN;
  }
}

async function startOrchestratorProcess(): Promise<{ url: string; pid?: number; stop: () => void }> {
  const args = ["--import", "tsx", "orchestrator/main.ts", "--port", "0", "--http", "--ai-zero-cost", "--ai-capacity", "100000"];
  if (values["data-uris"]) args.push("--ai-data-uris");
  const p = spawn(process.execPath, args, { cwd: REPO, env: { ...process.env, WHARF_LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    p.stdout!.on("data", (d) => {
      out += d;
      const m = /\{"listening":"([^"]+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    p.once("exit", (c) => reject(new Error(`orchestrator exited ${c}`)));
  });
  return { url, pid: p.pid, stop: () => p.kill("SIGTERM") };
}

async function main(): Promise<void> {
  const orch = await startOrchestratorProcess();
  const wharf = await startWharf({ env: { WHARF_ORCH_ADDR: orch.url, WHARF_LOG_LEVEL: "warn" }, nodeArgs: values.profile ? ["--cpu-prof", "--cpu-prof-dir", values.profile] : [] });
  try {
    const info = await getOrchestrator(orch.url);
    const headers = { ...aiRequestHeaders(Capability.TextToImage, "stabilityai/sdxl-turbo", info.authToken!), "content-type": "application/json" };
    const direct = async (d: Agent) => {
      const r = await request(`${info.transcoder}/text-to-image`, { method: "POST", headers, body: BODY, dispatcher: d });
      await r.body.dump();
      return r.statusCode;
    };
    const viaWharf = async (d: Agent) => {
      const r = await request(`${wharf.http}/text-to-image`, { method: "POST", headers: { authorization: `Bearer ${wharf.adminKey}`, "content-type": "application/json" }, body: BODY, dispatcher: d });
      await r.body.dump();
      return r.statusCode;
    };
    const rows: string[] = [];
    rows.push("| clients | direct req/s | direct p50 / p99 ms | Wharf req/s | Wharf p50 / p99 ms | overhead p50 / p99 ms | Wharf CPU ms/req | errors |");
    rows.push("|---|---|---|---|---|---|---|---|");
    for (const c of LEVELS) {
      const d = await load(c, SECONDS, direct);
      const cpu0 = cpuMs(wharf.proc.pid);
      const w = await load(c, SECONDS, viaWharf);
      // Includes the 1 s warm-up's requests, which load() does not count: an upper bound.
      const cpuPerReq = (cpuMs(wharf.proc.pid) - cpu0) / (w.requests * (1 + 1 / SECONDS));
      const f = (x: number) => x.toFixed(2);
      rows.push(`| ${c} | ${d.rps.toFixed(0)} | ${f(d.p50)} / ${f(d.p99)} | ${w.rps.toFixed(0)} | ${f(w.p50)} / ${f(w.p99)} | ${f(w.p50 - d.p50)} / ${f(w.p99 - d.p99)} | ${f(cpuPerReq)} | ${d.errors + w.errors} |`);
      process.stderr.write(`${rows.at(-1)}\n`);
    }
    process.stdout.write(`\ntext-to-image (512x512, zero-cost orchestrator${values["data-uris"] ? ", data URIs" : ", result URLs"}), ${SECONDS} s per point\n\n${rows.join("\n")}\n`);
  } finally {
    await wharf.stop();
    orch.stop();
    await closeGrpcClients();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
