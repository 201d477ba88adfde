// The one module that spawns ffmpeg/ffprobe: binary lookup, argument passing,
// stderr capture for error messages, kill on stop, and no zombies at exit.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import type { Readable, Writable } from "node:stream";

const require = createRequire(import.meta.url);
const STDERR_TAIL_BYTES = 8192;

function onPath(bin: string): boolean {
  const r = spawnSync(bin, ["-version"], { stdio: "ignore" });
  return r.status === 0;
}

let resolved: { ffmpeg: string; ffprobe: string } | undefined;

/** System ffmpeg when on PATH, else the @ffmpeg-installer binary (ffprobe then stays system-only). */
export function ffmpegBinaries(): { ffmpeg: string; ffprobe: string } {
  if (resolved) return resolved;
  const fromEnv = process.env.WHARF_FFMPEG;
  if (fromEnv) {
    resolved = { ffmpeg: fromEnv, ffprobe: process.env.WHARF_FFPROBE ?? "ffprobe" };
  } else if (onPath("ffmpeg")) {
    resolved = { ffmpeg: "ffmpeg", ffprobe: "ffprobe" };
  } else {
    let installer: string | undefined;
    try {
      installer = (require("@ffmpeg-installer/ffmpeg") as { path: string }).path;
    } catch {
      installer = undefined;
    }
    resolved = { ffmpeg: installer ?? "ffmpeg", ffprobe: "ffprobe" };
  }
  return resolved;
}

/** True when an ffmpeg binary can be run. Used by /readyz. */
/** How long a positive answer of ffmpegAvailable() is kept (a readiness probe must not spawn per call). */
const AVAILABLE_TTL_MS = 60_000;
let availableAt = 0;

export function ffmpegAvailable(): boolean {
  const now = Date.now();
  if (now - availableAt < AVAILABLE_TTL_MS) return true;
  const ok = onPath(ffmpegBinaries().ffmpeg);
  if (ok) availableAt = now;
  return ok;
}

export class FfmpegError extends Error {
  constructor(
    message: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = "FfmpegError";
  }
}

export interface FfmpegProcess {
  readonly child: ChildProcess;
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last few KiB of stderr, for error messages. */
  stderrTail(): string;
  /** Ask ffmpeg to stop (q on stdin / SIGTERM), then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
  readonly running: boolean;
}

const live = new Set<FfmpegProcess>();

export interface SpawnOptions {
  /** Label used in error messages. */
  label?: string;
  /** Called with each stderr chunk (e.g. progress parsing). */
  onStderr?: (text: string) => void;
  /** Binary to run: ffmpeg (default) or ffprobe. */
  binary?: "ffmpeg" | "ffprobe";
}

export function spawnFfmpeg(args: string[], opts: SpawnOptions = {}): FfmpegProcess {
  const bin = ffmpegBinaries()[opts.binary ?? "ffmpeg"];
  const child = spawn(bin, args, { stdio: ["pipe", "pipe", "pipe"] });
  let tail = "";
  let running = true;
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (text: string) => {
    tail = (tail + text).slice(-STDERR_TAIL_BYTES);
    opts.onStderr?.(text);
  });
  // A broken stdin pipe after ffmpeg exits is expected, never fatal.
  child.stdin!.on("error", () => {});
  child.stdout!.on("error", () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("error", (err) => {
      tail += `\nspawn error: ${err.message}`;
      running = false;
      resolve({ code: -1, signal: null });
    });
    child.once("close", (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });
  const proc: FfmpegProcess = {
    child,
    stdin: child.stdin!,
    stdout: child.stdout!,
    exited,
    stderrTail: () => tail,
    get running() {
      return running;
    },
    async stop(graceMs = 1500) {
      if (!running) return;
      try {
        child.kill("SIGTERM");
      } catch {
        /* already gone */
      }
      const timer = setTimeout(() => {
        if (running) child.kill("SIGKILL");
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  return proc;
}

/** Runs ffmpeg to completion, optionally feeding stdin; rejects with stderr on failure or timeout. */
export async function runFfmpeg(
  args: string[],
  opts: SpawnOptions & { input?: Buffer; timeoutMs?: number } = {},
): Promise<Buffer> {
  const proc = spawnFfmpeg(args, opts);
  const chunks: Buffer[] = [];
  proc.stdout.on("data", (c: Buffer) => chunks.push(c));
  if (opts.input) proc.stdin.end(opts.input);
  else proc.stdin.end();
  let timedOut = false;
  const timer = opts.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        void proc.stop(200);
      }, opts.timeoutMs)
    : undefined;
  const { code } = await proc.exited;
  if (timer) clearTimeout(timer);
  const label = opts.label ?? opts.binary ?? "ffmpeg";
  if (timedOut) throw new FfmpegError(`${label} timed out after ${opts.timeoutMs} ms`, code, proc.stderrTail());
  if (code !== 0) {
    const lastLine = proc.stderrTail().trim().split("\n").slice(-1)[0] ?? "";
    throw new FfmpegError(`${label} exited with code ${code}: ${lastLine}`, code, proc.stderrTail());
  }
  return Buffer.concat(chunks);
}

export interface ProbeStream {
  index: number;
  codec_type: "video" | "audio" | string;
  codec_name: string;
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  bit_rate?: string;
  sample_rate?: string;
  channels?: number;
}
export interface ProbeResult {
  streams: ProbeStream[];
  format: { format_name: string; duration?: string; bit_rate?: string; size?: string };
  frames?: Array<{ key_frame?: number; pict_type?: string; pts_time?: string; media_type?: string }>;
  packets?: Array<{ flags?: string; pts_time?: string; codec_type?: string }>;
}

/** ffprobe a file path or a buffer (fed on stdin). */
export async function ffprobe(input: string | Buffer, extraArgs: string[] = []): Promise<ProbeResult> {
  const src = typeof input === "string" ? input : "pipe:0";
  const out = await runFfmpeg(
    ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", ...extraArgs, src],
    { binary: "ffprobe", input: typeof input === "string" ? undefined : input, timeoutMs: 20000 },
  );
  return JSON.parse(out.toString("utf8")) as ProbeResult;
}

/** Kill every ffmpeg this process started. Used on shutdown. */
export async function stopAllFfmpeg(graceMs = 1000): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(graceMs)));
}

/** Count of running ffmpeg children (for metrics and shutdown tests). */
export function runningFfmpegCount(): number {
  return live.size;
}
