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
  // 60 s: on the 2-core CI machine with two test files and their processes running, a start has
  // taken over 20 s. A child that never got there is killed: left running it would keep this test
  // file's process alive until the runner's timeout.
  await waitFor(`${script} listening`, () => {
    if (proc.exitCode !== null) throw new Error(`${script} exited: ${out}`);
    const line = out.split("\n").find((l) => l.startsWith("{") && l.includes('"listening"'));
    if (line) url = (JSON.parse(line) as { listening: string }).listening;
    return line ? true : undefined;
  }, 60_000, 50).catch((err: unknown) => {
    proc.kill("SIGKILL");
    throw err;
  });
  return { proc, url };
}
