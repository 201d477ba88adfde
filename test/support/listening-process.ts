// A `node --import tsx <script>` child that prints {"listening": "<url>"} once it serves
// (the development orchestrator, bench helpers): started, and its URL read from that line.
import { spawn, type ChildProcess } from "node:child_process";
import { REPO } from "./wharf.ts";
import { waitFor } from "./wait.ts";

export interface ListeningProcess {
  proc: ChildProcess;
  url: string;
}

export async function spawnListening(script: string, args: string[], opts: { env?: Record<string, string>; onOutput?: (chunk: string) => void } = {}): Promise<ListeningProcess> {
  const proc = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: REPO,
    env: { ...process.env, WHARF_LOG_LEVEL: "warn", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const take = (d: Buffer) => {
    out += d;
    opts.onOutput?.(String(d));
  };
  proc.stdout!.on("data", take);
  proc.stderr!.on("data", take);
  let url = "";
  await waitFor(`${script} listening`, () => {
    if (proc.exitCode !== null) throw new Error(`${script} exited: ${out}`);
    const line = out.split("\n").find((l) => l.startsWith("{") && l.includes('"listening"'));
    if (line) url = (JSON.parse(line) as { listening: string }).listening;
    return line ? true : undefined;
  }, 20000, 50);
  return { proc, url };
}
