// What cluster mode costs, and what more nodes give, on this machine.
//
//   node --import tsx bench/cluster-overhead.ts [--seconds 3] [--levels 1,16] [--scale-clients 32] [--skip-scale]
//
// Needs PostgreSQL and Redis: `. .ci/services` (WHARF_TEST_DATABASE_URL, WHARF_TEST_REDIS_URL); a fresh
// schema and Redis key prefix per run. Part 2 needs /usr/sbin/haproxy.
//
// 1. One node, SQLite vs PostgreSQL + Redis, interleaved in alternating 1 s slices (bench/support/load.ts):
//    - auth: GET /v1/streams with a key that has a rate limit (key auth from the cache + the token
//      bucket: in memory on SQLite, one Lua call on Redis in cluster mode), against GET /healthz;
//    - batch AI: text-to-image (zero-cost development orchestrator) with a key that has a daily spend
//      cap, so every request reserves spend (memory vs Redis), commits its usage record (SQLite WAL vs a
//      PostgreSQL transaction with the rollups) and releases; the orchestrator called directly is the
//      baseline both are measured against.
// 2. Batch AI throughput through HAProxy (roundrobin) to one, two and three cluster nodes: one HAProxy
//    with three frontends, the targets interleaved; the CPU time of every process is read per slice, so
//    the table says where the machine's two cores went.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Agent } from "undici";
import { Redis } from "ioredis";
import postgres from "postgres";
import { exchange } from "../protocol/http-exchange.ts";
import { getOrchestrator, closeGrpcClients } from "../protocol/grpc-client.ts";
import { aiRequestHeaders } from "../protocol/segment-header.ts";
import { Capability } from "../protocol/capabilities.ts";
import { startOrchestratorProcess } from "../test/support/orchestrator.ts";
import { freshSchema } from "../test/support/postgres.ts";
import { freePort } from "../test/support/ports.ts";
import { waitFor } from "../test/support/wait.ts";
import { startWharf, type WharfProcess } from "../test/support/wharf.ts";
import { fmt, loadInterleaved, quantile, type Send } from "./support/load.ts";
import { cpuSeconds } from "./support/proc.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "3" }, levels: { type: "string", default: "1,16" },
    "scale-clients": { type: "string", default: "32" }, "skip-scale": { type: "boolean", default: false },
  },
});
const SECONDS = Number(values.seconds);
const LEVELS = values.levels!.split(",").map(Number);
const SCALE_CLIENTS = Number(values["scale-clients"]);
const BODY = JSON.stringify({ model_id: "", prompt: "benchmark", width: 512, height: 512 });

const dbUrl = process.env.WHARF_TEST_DATABASE_URL;
const redisUrl = process.env.WHARF_TEST_REDIS_URL;

/** Machine-wide busy CPU seconds (all cores) from /proc/stat. */
function machineBusySeconds(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!;
  return (f.reduce((a, b) => a + b, 0) - idle) / 100;
}

/** The processes named `name` (PostgreSQL's and Redis's servers, shared with other users of the machine). */
function pidsOf(name: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8").trim() === name) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

const post = (base: string, headers: Record<string, string>, path = "/text-to-image"): Send => {
  const u = new URL(base);
  return async (d: Agent) => (await exchange(d, { origin: u.origin, path: `${u.pathname.replace(/\/+$/, "")}${path}`, method: "POST", headers, body: BODY, timeoutMs: 30_000, maxBytes: 1 << 20 }).response).status;
};
const get = (base: string, path: string, headers: Record<string, string> = {}): Send => {
  const u = new URL(base);
  return async (d: Agent) => (await exchange(d, { origin: u.origin, path, method: "GET", headers, timeoutMs: 30_000, maxBytes: 1 << 20 }).response).status;
};

/** A key for the bench: a rate limit that never refuses and (for AI) a daily cap that is never reached. */
async function benchKey(w: WharfProcess, scopes: string[], capped: boolean, admin = w.adminKey): Promise<string> {
  const r = await w.api("POST", "/v1/keys", { name: "bench", scopes, rateLimit: { requestsPerMinute: 1_000_000, burst: 1_000_000 }, ...(capped ? { spendCaps: { daily: 1_000_000 } } : {}) }, admin);
  if (r.status !== 201) throw new Error(`key: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.secret as string;
}

function haproxyConfig(frontends: Array<{ port: number; nodes: WharfProcess[] }>): string {
  return `global
  maxconn 4000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
${frontends.map((f, i) => `frontend lb${i + 1}
  bind 127.0.0.1:${f.port}
  default_backend b${i + 1}
backend b${i + 1}
  balance roundrobin
${f.nodes.map((n, j) => `  server n${j} 127.0.0.1:${n.httpPort}`).join("\n")}`).join("\n")}
`;
}

/** What one round trip to each shared store costs from here: what a cluster-mode request adds, a few times over. */
async function roundTrips(pgUrl: string, rUrl: string): Promise<string> {
  const sql = postgres(pgUrl, { max: 1, onnotice: () => {} });
  const redis = new Redis(rUrl);
  const n = 300;
  const time = async (fn: () => Promise<unknown>) => {
    const lat: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await fn();
      lat.push(performance.now() - t);
    }
    lat.sort((a, b) => a - b);
    return `${fmt(quantile(lat, 0.5), 3)} / ${fmt(quantile(lat, 0.99), 3)}`;
  };
  try {
    await sql`CREATE TEMP TABLE bench_rt (id SERIAL PRIMARY KEY, v TEXT)`;
    const rows = [
      ["Redis PING", await time(() => redis.ping())],
      ["PostgreSQL SELECT 1", await time(() => sql`SELECT 1`)],
      ["PostgreSQL INSERT, committed (synchronous_commit as configured)", await time(() => sql.begin((tx) => tx`INSERT INTO bench_rt (v) VALUES ('x')`))],
    ];
    return `one round trip from this process, ${n} sequential, p50 / p99 ms\n\n| round trip | p50 / p99 ms |\n|---|---|\n${rows.map((r) => `| ${r[0]} | ${r[1]} |`).join("\n")}`;
  } finally {
    await sql.end();
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  if (!dbUrl || !redisUrl) throw new Error("WHARF_TEST_DATABASE_URL and WHARF_TEST_REDIS_URL must be set (. .ci/services)");
  const schema = await freshSchema(dbUrl);
  const orch = await startOrchestratorProcess(["--ai-zero-cost", "--ai-capacity", "100000"], { http: true });
  const admin = "bench-cluster-admin-" + schema.name;
  const clusterEnv = { WHARF_ADMIN_KEY: admin, WHARF_DATABASE_URL: schema.url, WHARF_REDIS_URL: redisUrl, WHARF_CLUSTER_NAME: schema.name, WHARF_ORCH_ADDR: orch.url, WHARF_LOG_LEVEL: "warn" };
  const nodes: WharfProcess[] = [];
  let sqlite: WharfProcess | undefined;
  let haproxy: ChildProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), "wharf-bench-cluster-"));
  const f = (x: number) => fmt(x);
  try {
    sqlite = await startWharf({ env: { WHARF_ORCH_ADDR: orch.url, WHARF_LOG_LEVEL: "warn" } });
    nodes.push(await startWharf({ env: clusterEnv }));
    const info = await getOrchestrator(orch.url);
    const direct = post(info.transcoder!, { ...aiRequestHeaders(Capability.TextToImage, "stabilityai/sdxl-turbo", info.authToken!), "content-type": "application/json" });

    // --- 1. one node: SQLite vs PostgreSQL + Redis
    const keys = {
      sqliteAuth: await benchKey(sqlite, ["streams"], false), clusterAuth: await benchKey(nodes[0]!, ["streams"], false, admin),
      sqliteAi: await benchKey(sqlite, ["ai"], true), clusterAi: await benchKey(nodes[0]!, ["ai"], true, admin),
      clusterAiUncapped: await benchKey(nodes[0]!, ["ai"], false, admin),
    };
    const bearer = (k: string) => ({ authorization: `Bearer ${k}`, "content-type": "application/json" });
    const authRows = ["| clients | /healthz p50 / p99 ms | SQLite: auth route p50 / p99 ms | cluster: auth route p50 / p99 ms | cluster minus SQLite p50 / p99 ms | req/s SQLite / cluster |", "|---|---|---|---|---|---|"];
    const aiRows = ["| clients | direct p50 / p99 ms | SQLite Wharf p50 / p99 ms | cluster Wharf p50 / p99 ms | cluster, key without cap p50 / p99 ms | overhead SQLite p50 / p99 ms | overhead cluster p50 / p99 ms | req/s direct / SQLite / cluster | CPU ms/req SQLite: Wharf / cluster: Wharf + PostgreSQL + Redis | errors |", "|---|---|---|---|---|---|---|---|---|---|"];
    // CPU time per request of the Wharf serving it (and, for the cluster node, of PostgreSQL's and Redis's servers).
    const storePids = [...pidsOf("postgres"), ...pidsOf("redis-server")];
    const cpuOf = { sqlite: () => cpuSeconds(sqlite!.proc.pid), cluster: () => cpuSeconds(nodes[0]!.proc.pid), stores: () => storePids.reduce((t, p) => t + (cpuSeconds(p) || 0), 0) };
    let used: Record<string, number> = {};
    let at: Record<string, number> = {};
    const onAiSlice = (target: string, phase: "start" | "end") => {
      for (const [k, fn] of Object.entries(cpuOf)) {
        if (phase === "start") at[k] = fn();
        else used[`${target}:${k}`] = (used[`${target}:${k}`] ?? 0) + fn() - at[k]!;
      }
    };
    for (const c of LEVELS) {
      const a = await loadInterleaved(c, SECONDS, 1000, {
        healthz: get(sqlite.http, "/healthz"),
        sqlite: get(sqlite.http, "/v1/streams", bearer(keys.sqliteAuth)),
        cluster: get(nodes[0]!.http, "/v1/streams", bearer(keys.clusterAuth)),
      });
      authRows.push(`| ${c} | ${f(a.healthz.p50)} / ${f(a.healthz.p99)} | ${f(a.sqlite.p50)} / ${f(a.sqlite.p99)} | ${f(a.cluster.p50)} / ${f(a.cluster.p99)} | ${f(a.cluster.p50 - a.sqlite.p50)} / ${f(a.cluster.p99 - a.sqlite.p99)} | ${fmt(a.sqlite.rps, 0)} / ${fmt(a.cluster.rps, 0)} |`);
      process.stderr.write(authRows.at(-1) + "\n");
      used = {};
      at = {};
      const r = await loadInterleaved(c, SECONDS, 1000, {
        direct, sqlite: post(sqlite.http, bearer(keys.sqliteAi)), cluster: post(nodes[0]!.http, bearer(keys.clusterAi)), uncapped: post(nodes[0]!.http, bearer(keys.clusterAiUncapped)),
      }, onAiSlice);
      const perReq = (target: "sqlite" | "cluster", k: string) => fmt((1000 * (used[`${target}:${k}`] ?? NaN)) / r[target].requests, 2);
      aiRows.push(`| ${c} | ${f(r.direct.p50)} / ${f(r.direct.p99)} | ${f(r.sqlite.p50)} / ${f(r.sqlite.p99)} | ${f(r.cluster.p50)} / ${f(r.cluster.p99)} | ${f(r.uncapped.p50)} / ${f(r.uncapped.p99)} | ${f(r.sqlite.p50 - r.direct.p50)} / ${f(r.sqlite.p99 - r.direct.p99)} | ${f(r.cluster.p50 - r.direct.p50)} / ${f(r.cluster.p99 - r.direct.p99)} | ${fmt(r.direct.rps, 0)} / ${fmt(r.sqlite.rps, 0)} / ${fmt(r.cluster.rps, 0)} | ${perReq("sqlite", "sqlite")} / ${perReq("cluster", "cluster")} + ${perReq("cluster", "stores")} | ${r.direct.errors + r.sqlite.errors + r.cluster.errors + r.uncapped.errors} |`);
      process.stderr.write(aiRows.at(-1) + "\n");
    }
    process.stdout.write(`\nauth + rate limit, one node, ${SECONDS} x 1 s per target and point, interleaved\n\n${authRows.join("\n")}\n`);
    process.stdout.write(`\ntext-to-image 512x512 with a spend-capped key (reserve, usage record, release), one node, ${SECONDS} x 1 s per target and point, interleaved\n\n${aiRows.join("\n")}\n`);
    await sqlite.stop();
    sqlite = undefined;
    process.stdout.write(`\n${await roundTrips(schema.url, redisUrl)}\n`);
    if (values["skip-scale"]) return;

    // --- 2. throughput through HAProxy: 1, 2, 3 nodes
    for (let i = 0; i < 2; i++) nodes.push(await startWharf({ env: clusterEnv })); // one at a time: a loaded machine starts them slowly
    const ports = [await freePort(), await freePort(), await freePort()];
    writeFileSync(join(dir, "haproxy.cfg"), haproxyConfig(ports.map((port, i) => ({ port, nodes: nodes.slice(0, i + 1) }))));
    let hout = "";
    haproxy = spawn("/usr/sbin/haproxy", ["-db", "-f", join(dir, "haproxy.cfg")], { stdio: ["ignore", "pipe", "pipe"] });
    haproxy.stdout!.on("data", (d) => (hout += d));
    haproxy.stderr!.on("data", (d) => (hout += d));
    await waitFor("haproxy", async () => {
      if (haproxy!.exitCode !== null) throw new Error(`haproxy exited: ${hout}`);
      return (await fetch(`http://127.0.0.1:${ports[2]}/healthz`).catch(() => undefined))?.status === 200;
    }, 10_000, 100);
    const aiKey = await benchKey(nodes[0]!, ["ai"], true, admin);
    await new Promise((r) => setTimeout(r, 1500)); // the key is visible to every node (PostgreSQL)
    const procs: Record<string, number[]> = {
      wharf: nodes.map((n) => n.proc.pid!), orchestrator: [orch.proc.pid!], haproxy: [haproxy.pid!],
      postgres: pidsOf("postgres"), redis: pidsOf("redis-server"), bench: [process.pid],
    };
    const cpu: Record<string, Record<string, number>> = {};
    let mark: Record<string, number> = {};
    const onSlice = (target: string, phase: "start" | "end") => {
      const now: Record<string, number> = { machine: machineBusySeconds(), wall: performance.now() / 1000 };
      for (const [name, pids] of Object.entries(procs)) now[name] = pids.reduce((s, p) => s + (cpuSeconds(p) || 0), 0);
      if (phase === "start") mark = now;
      else for (const [k, v] of Object.entries(now)) (cpu[target] ??= {})[k] = (cpu[target]![k] ?? 0) + v - mark[k]!;
    };
    const sends = Object.fromEntries(ports.map((p, i) => [`${i + 1}`, post(`http://127.0.0.1:${p}`, bearer(aiKey))])) as Record<"1" | "2" | "3", Send>;
    const r = await loadInterleaved(SCALE_CLIENTS, SECONDS, 1000, sends, onSlice);
    const rows = ["| nodes | req/s | p50 / p99 ms | errors | machine CPU busy (of 2 cores) | CPU cores used: Wharf nodes / orchestrator / HAProxy / PostgreSQL / Redis / load generator |", "|---|---|---|---|---|---|"];
    for (const n of ["1", "2", "3"] as const) {
      const c = cpu[n]!;
      const cores = (k: string) => fmt(c[k]! / c.wall!, 2);
      rows.push(`| ${n} | ${fmt(r[n].rps, 0)} | ${f(r[n].p50)} / ${f(r[n].p99)} | ${r[n].errors} | ${fmt((100 * c.machine!) / c.wall! / 2, 0)} % | ${cores("wharf")} / ${cores("orchestrator")} / ${cores("haproxy")} / ${cores("postgres")} / ${cores("redis")} / ${cores("bench")} |`);
    }
    process.stdout.write(`\ntext-to-image 512x512 through HAProxy (roundrobin), ${SCALE_CLIENTS} clients, spend-capped key, ${SECONDS} x 1 s per target, interleaved\n\n${rows.join("\n")}\n`);
  } finally {
    haproxy?.kill("SIGTERM");
    await sqlite?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    await orch.kill("SIGTERM");
    await closeGrpcClients();
    await schema.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
