// `npm start` with no orchestrators configured: development orchestrators as separate
// processes on loopback (the same wire protocol as go-livepeer's, real ffmpeg work).
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { moduleLogger } from "../core/log.ts";

const log = moduleLogger("dev-network");
const here = fileURLToPath(new URL(".", import.meta.url));
const runningFromSource = import.meta.url.endsWith(".ts");

export interface DevNetwork {
  addresses: string[];
  /** Address -> region label (dev-1, dev-2, ...), for regional steering. */
  regions: Record<string, string>;
  stop(): Promise<void>;
}

function launch(index: number, host: string, dataDir: string): Promise<{ child: ChildProcess; address: string }> {
  const entry = join(here, "..", "orchestrator", runningFromSource ? "main.ts" : "main.js");
  const args = [
    ...(runningFromSource ? ["--import", "tsx"] : []),
    entry,
    "--port", "0",
    "--host", host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host,
    "--region", `dev-${index + 1}`,
    "--cert-dir", join(dataDir, "dev-orchestrator-certs", String(index + 1)),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, WHARF_EXIT_WITH_PARENT: "1", WHARF_LOG_LEVEL: process.env.WHARF_LOG_LEVEL ?? "warn" },
  });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`dev orchestrator ${index + 1} did not start in 20 s: ${err.slice(-500)}`)), 20000);
    child.stderr!.on("data", (d) => (err = (err + d).slice(-4000)));
    child.stdout!.on("data", (d) => {
      out += d;
      const line = out.split("\n").find((l) => l.startsWith("{") && l.includes('"listening"'));
      if (!line) return;
      clearTimeout(timer);
      const { listening } = JSON.parse(line) as { listening: string };
      child.stdout!.removeAllListeners("data");
      child.stdout!.resume();
      resolve({ child, address: listening });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`dev orchestrator ${index + 1} exited with ${code}: ${err.slice(-500)}`));
    });
  });
}

export async function startDevNetwork(count: number, host: string, dataDir: string): Promise<DevNetwork> {
  const started = await Promise.all(Array.from({ length: count }, (_, i) => launch(i, host, dataDir)));
  for (const { child, address } of started) {
    child.once("exit", (code, signal) => log.warn({ address, code, signal }, "dev orchestrator exited"));
  }
  log.info({ addresses: started.map((s) => s.address) }, "development orchestrators started");
  return {
    addresses: started.map((s) => s.address),
    regions: Object.fromEntries(started.map((s, i) => [s.address, `dev-${i + 1}`])),
    async stop() {
      await Promise.all(
        started.map(
          ({ child }) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              const timer = setTimeout(() => child.kill("SIGKILL"), 2500);
              child.once("exit", () => {
                clearTimeout(timer);
                resolve();
              });
              child.kill("SIGTERM");
            }),
        ),
      );
    },
  };
}
