// What the apps benchmarks (apps-overhead.ts, apps-build-ab.ts) stand on: the example runner
// behind one unpaid development orchestrator that hosts it as a single-shot app (example/json) and
// a persistent one (example/echo), a key per Wharf, a JSON POST as the load, and the CPU a
// process used during its own slices of an interleaved load.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WharfProcess } from "../../test/support/wharf.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../../test/support/orchestrator.ts";
import { spawnListening, type ListeningProcess } from "../../test/support/listening-process.ts";
import type { Send, SliceHook } from "./load.ts";
import { cpuSeconds } from "./proc.ts";

export interface AppsRig {
  runner: ListeningProcess;
  orch: OrchestratorProcess;
  /** `stop` runs first at the rig's stop, in reverse order of `own` (a benchmark's Wharf and proxies): call it right after each start. */
  own(stop: () => unknown): void;
  /** Stops what the rig owns, then the orchestrator and the runner. */
  stop(): Promise<void>;
}

export async function startAppsRig(): Promise<AppsRig> {
  const runner = await spawnListening("orchestrator/example-runner/main.ts", ["--name", "bench"]);
  const dir = mkdtempSync(join(tmpdir(), "wharf-bench-apps-"));
  const file = join(dir, "runners.json");
  const common = { routing: "label", runner_url: runner.url, health_url: `${runner.url}/health`, version: "1" };
  writeFileSync(file, JSON.stringify({ runners: [
    { ...common, label: "json", app: "example/json", mode: "single-shot", capacity: 100_000 },
    { ...common, label: "echo", app: "example/echo", mode: "persistent", capacity: 4 },
  ] }));
  const orch = await startOrchestratorProcess(["--no-ai", "--no-live", "--runners", file], { http: true }).catch((err: Error) => {
    runner.proc.kill("SIGTERM");
    throw err;
  });
  const owned: Array<() => unknown> = [];
  return {
    runner, orch,
    own: (stop) => void owned.unshift(stop),
    async stop() {
      for (const stop of owned) await stop();
      await orch.kill("SIGTERM");
      runner.proc.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A key for the load (rate limit out of the way), once Wharf lists both apps. */
export async function benchKey(w: WharfProcess): Promise<string> {
  const key = (await w.api("POST", "/v1/keys", { name: "bench", scopes: ["ai"], rateLimit: { requestsPerMinute: 1_000_000 } })).body.secret as string;
  for (let i = 0; i < 100 && (await w.api("GET", "/v1/apps", undefined, key)).body.apps?.length !== 2; i++) await new Promise((r) => setTimeout(r, 200));
  return key;
}

/** One JSON POST to `url` (with `key` as a bearer token when given); its status. */
export function postJson(url: string, body: string, key?: string): Send {
  const u = new URL(url);
  const headers = { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) };
  return async (agent) => {
    const res = await agent.request({ origin: u.origin, path: u.pathname, method: "POST", headers, body });
    await res.body.dump();
    return res.statusCode;
  };
}

/**
 * CPU milliseconds (all threads) each process used during its own slices of loadInterleaved; the
 * slices of targets without a process here are left out. Slices include an unrecorded ramp.
 */
export function sliceCpu<K extends string>(pids: Partial<Record<K, number | undefined>>): { cpu: Record<K, number>; onSlice: SliceHook<K> } {
  const cpu = Object.fromEntries(Object.keys(pids).map((k) => [k, 0])) as Record<K, number>;
  let mark = 0;
  const onSlice: SliceHook<K> = (target, phase) => {
    if (!(target in pids)) return;
    const now = cpuSeconds(pids[target]) * 1000;
    if (phase === "start") mark = now;
    else cpu[target] += now - mark;
  };
  return { cpu, onSlice };
}

/** The bare Node proxy (bare-app-proxy.ts) in front of the rig's orchestrator, owned by the rig. */
export async function startBareProxy(rig: AppsRig): Promise<ListeningProcess> {
  const bare = await spawnListening("bench/support/bare-app-proxy.ts", [], { env: { TARGET: rig.orch.url } });
  rig.own(() => bare.proc.kill("SIGTERM"));
  return bare;
}
