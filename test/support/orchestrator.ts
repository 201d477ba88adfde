// Development orchestrators as separate processes (the real wire protocol, real ffmpeg).
import type { ChildProcess } from "node:child_process";
import { Agent, request } from "undici";
import { spawnListening } from "./listening-process.ts";

/** Body of `POST /wharf/configure` (the process needs `--control`; see orchestrator/README.md). */
export interface OrchestratorConfigure {
  /** Max concurrent transcoding sessions. */
  capacity?: number;
  /** Added latency before each answer, ms. */
  latencyMs?: number;
  /** Probability 0..1 of failing a request. */
  failRate?: number;
  /** The batch AI feature's knobs. */
  ai?: {
    /** Concurrent requests, for every pipeline or per pipeline. */
    capacity?: number | Record<string, number>;
    /** Extra latency per pipeline, ms (a gateway hanging up meanwhile counts as abandoned). */
    latencyMs?: Record<string, number>;
    llmTokenDelayMs?: number;
    zeroCost?: boolean;
    /** Result URLs answer 500. */
    resultsUnavailable?: boolean;
  };
  /** With --require-payment: move the simulated L1 chain forward (ticket params expire 40 blocks after they are made). */
  payments?: { advanceBlocks: number };
}

/** `GET /wharf/ai/status`: the batch AI feature's counters. */
export interface AiStats {
  /** Requests admitted, per pipeline. */
  requests: Record<string, number>;
  /** Requests refused with 503 insufficient capacity. */
  busy: number;
  failures: number;
  /** Requests whose caller hung up before the answer. */
  abandoned: number;
  inFlight: Record<string, number>;
}

export interface OrchestratorProcess {
  url: string;
  /** The advertised service URL (OrchestratorInfo.transcoder). */
  serviceUrl: string;
  port: number;
  proc: ChildProcess;
  output(): string;
  status(): Promise<{ segments: number; busy: number; injectedFailures: number; [k: string]: unknown }>;
  /** Change knobs at runtime (started with `--control`); rejects with the orchestrator's message on 4xx. */
  configure(body: OrchestratorConfigure): Promise<void>;
  aiStats(): Promise<AiStats>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port with the same arguments. */
  restart(): Promise<void>;
}

const insecure = new Agent({ connect: { rejectUnauthorized: false } });
// The control requests do not keep connections alive: an idle one would hold up a graceful stop (SIGTERM).
const once = { dispatcher: insecure, reset: true } as const;

export async function startOrchestratorProcess(args: string[] = [], opts: { port?: number; http?: boolean } = {}): Promise<OrchestratorProcess> {
  // Port 0: the orchestrator binds a free port itself and prints it (no race with parallel tests);
  // a restart then reuses that port.
  let port = opts.port ?? 0;
  const argsFor = (p: number) => ["--port", String(p), ...(opts.http ? ["--http"] : []), ...args];
  let out = "";
  const o: OrchestratorProcess = {
    url: "",
    serviceUrl: "",
    port,
    proc: undefined as unknown as ChildProcess,
    output: () => out,
    async status() {
      const res = await request(`${o.url}/wharf/status`, once);
      return (await res.body.json()) as Awaited<ReturnType<OrchestratorProcess["status"]>>;
    },
    async configure(body) {
      const res = await request(`${o.url}/wharf/configure`, {
        ...once,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`POST /wharf/configure ${JSON.stringify(body)}: ${res.statusCode} ${text}`);
    },
    async aiStats() {
      const res = await request(`${o.url}/wharf/ai/status`, once);
      if (res.statusCode !== 200) throw new Error(`GET /wharf/ai/status: ${res.statusCode} ${await res.body.text()}`);
      return (await res.body.json()) as AiStats;
    },
    async kill(signal = "SIGKILL") {
      const p = o.proc;
      if (p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once("exit", r));
      p.kill(signal);
      await exited;
    },
    async restart() {
      await o.kill("SIGKILL");
      await launch();
    },
  };
  async function launch(): Promise<void> {
    const p = await spawnListening("orchestrator/main.ts", argsFor(port), { onOutput: (d) => (out += d) });
    o.proc = p.proc;
    o.url = p.url;
    const line = out.split("\n").findLast((l) => l.startsWith("{") && l.includes('"listening"'));
    o.serviceUrl = line ? ((JSON.parse(line) as { serviceUrl?: string }).serviceUrl ?? p.url) : p.url;
    port = Number(new URL(p.url).port);
    o.port = port;
  }
  await launch();
  return o;
}
