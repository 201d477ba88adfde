// Starts a real Wharf process (node --import tsx server/main.ts) on free ports for e2e tests.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import { waitFor } from "./wait.ts";

export const REPO = join(import.meta.dirname, "..", "..");

export interface WharfProcess {
  proc: ChildProcess;
  http: string;
  rtmp: string;
  httpPort: number;
  rtmpPort: number;
  adminKey: string;
  dataDir: string;
  output(): string;
  api<T = any>(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: T; headers: Headers }>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

type StartOptions = { env?: Record<string, string>; args?: string[]; dataDir?: string; /** Extra node flags (e.g. --cpu-prof). */ nodeArgs?: string[]; /** Run the compiled dist/ (npm run build) as production does, instead of the sources through tsx. */ built?: boolean; /** With `built`: another compiled entry (a copy of an earlier build's dist/server/main.js inside the repository, so its packages resolve). */ entry?: string };

/**
 * Starts Wharf on free ports. Test files run in parallel processes, so a port found free can be
 * taken by another process before Wharf binds it: then it is retried on fresh ports.
 */
export async function startWharf(opts: StartOptions = {}): Promise<WharfProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startWharfOnce(opts);
    } catch (err) {
      if (attempt >= 4 || !/EADDRINUSE|already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startWharfOnce(opts: StartOptions): Promise<WharfProcess> {
  const httpPort = await freePort();
  const rtmpPort = await freePort();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "wharf-e2e-"));
  const adminKey = "test-admin-" + Math.random().toString(36).slice(2);
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...(opts.built ? [opts.entry ?? "dist/server/main.js"] : ["--import", "tsx", "server/main.ts"]), ...(opts.args ?? [])], {
    cwd: REPO,
    env: {
      ...process.env,
      NODE_ENV: "test",
      WHARF_HTTP_PORT: String(httpPort),
      WHARF_RTMP_PORT: String(rtmpPort),
      WHARF_HOST: "127.0.0.1",
      WHARF_DATA_DIR: dataDir,
      WHARF_ADMIN_KEY: adminKey,
      WHARF_LOG_LEVEL: process.env.WHARF_TEST_LOG_LEVEL ?? "warn",
      WHARF_DEV_ORCHESTRATORS: "0",
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  const http = `http://127.0.0.1:${httpPort}`;
  const w: WharfProcess = {
    proc,
    http,
    rtmp: `rtmp://127.0.0.1:${rtmpPort}/live`,
    httpPort,
    rtmpPort,
    adminKey,
    dataDir,
    output: () => out,
    async api(method, path, body, key = adminKey) {
      const res = await fetch(http + path, {
        method,
        headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: any = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), 8000);
      const code = await exited;
      clearTimeout(timer);
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
  try {
    await waitFor("wharf /healthz", async () => {
      if (proc.exitCode !== null) throw new Error(`wharf exited early:\n${out}`);
      const res = await fetch(`${http}/healthz`).catch(() => undefined);
      return res?.ok;
    }, 60000, 150);
    // Generous: the whole suite runs two files at once on 2 cores, and a cluster file starts three nodes.
    await waitFor("wharf ready (RTMP listening)", () => out.includes("Wharf is running"), 60000, 100);
  } catch (err) {
    await w.stop("SIGKILL");
    throw err;
  }
  return w;
}
