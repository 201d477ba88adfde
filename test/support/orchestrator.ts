// Development orchestrators as separate processes (the real wire protocol, real ffmpeg).
import type { ChildProcess } from "node:child_process";
import { Agent, request } from "undici";
import { spawnListening } from "./listening-process.ts";

export interface OrchestratorProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  output(): string;
  status(): Promise<{ segments: number; busy: number; injectedFailures: number; [k: string]: unknown }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port with the same arguments. */
  restart(): Promise<void>;
}

const insecure = new Agent({ connect: { rejectUnauthorized: false } });

export async function startOrchestratorProcess(args: string[] = [], opts: { port?: number; http?: boolean } = {}): Promise<OrchestratorProcess> {
  // Port 0: the orchestrator binds a free port itself and prints it (no race with parallel tests);
  // a restart then reuses that port.
  let port = opts.port ?? 0;
  const argsFor = (p: number) => ["--port", String(p), ...(opts.http ? ["--http"] : []), ...args];
  let out = "";
  const o: OrchestratorProcess = {
    url: "",
    port,
    proc: undefined as unknown as ChildProcess,
    output: () => out,
    async status() {
      const res = await request(`${o.url}/wharf/status`, { dispatcher: insecure });
      return (await res.body.json()) as Awaited<ReturnType<OrchestratorProcess["status"]>>;
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
    port = Number(new URL(p.url).port);
    o.port = port;
  }
  await launch();
  return o;
}
