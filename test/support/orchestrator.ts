// Development orchestrators as separate processes (the real wire protocol, real ffmpeg).
import { spawn, type ChildProcess } from "node:child_process";
import { Agent, request } from "undici";
import { REPO } from "./wharf.ts";
import { waitFor } from "./wait.ts";

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
  const argsFor = (p: number) => ["--import", "tsx", "orchestrator/main.ts", "--port", String(p), ...(opts.http ? ["--http"] : []), ...args];
  let out = "";
  let url = "";
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
    const proc = spawn(process.execPath, argsFor(port), { cwd: REPO, env: { ...process.env, WHARF_LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "pipe"] });
    o.proc = proc;
    const mark = out.length; // only this process's "listening" line counts (restarts append)
    proc.stdout!.on("data", (d) => (out += d));
    proc.stderr!.on("data", (d) => (out += d));
    await waitFor(`orchestrator on ${port}`, () => {
      if (proc.exitCode !== null) throw new Error(`orchestrator exited: ${out}`);
      const line = out.slice(mark).split("\n").find((l) => l.startsWith("{") && l.includes('"listening"'));
      if (line) url = (JSON.parse(line) as { listening: string }).listening;
      return line ? true : undefined;
    }, 20000, 50);
    o.url = url;
    port = Number(new URL(url).port);
    o.port = port;
  }
  await launch();
  return o;
}
