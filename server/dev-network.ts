// `npm start` with no orchestrators configured: development orchestrators as separate processes
// on loopback (the same wire protocol as go-livepeer's, real ffmpeg work) and a development remote
// signer that pays them, so every path runs with payments as on the real network. A program that
// dies is started again on the same port.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { moduleLogger } from "../core/log.ts";
import { orchestratorDispatcher } from "../protocol/http-agent.ts";

const log = moduleLogger("dev-network");
const here = fileURLToPath(new URL(".", import.meta.url));
const runningFromSource = import.meta.url.endsWith(".ts");

/** How long a development program may take to print its listening line. */
const START_TIMEOUT_MS = 20_000;
/** A program that keeps dying is restarted at most this often. */
const RESTART_DELAY_MS = 1000;

/**
 * What the paying development orchestrators charge, in wei: small real prices, so every request,
 * segment and live session is paid with tickets (EV 8 gwei each, go-livepeer's default) while a
 * laptop's usage stays far from anything that matters.
 */
export const DEV_PRICE_ARGS = [
  "--price-per-unit", "1", // transcoding: 1 wei per output pixel
  "--ai-prices", JSON.stringify({
    "text-to-image": 2, "image-to-image": 2, "image-to-video": 1, upscale: 2, "segment-anything-2": 1,
    "image-to-text": 1, "audio-to-text": 100, llm: 50_000, "text-to-speech": 1000,
  }),
  "--ai-price", "live-video-to-video=1", // 27.6 Mwei per second of 720p30
];

/** The example runner app as every development orchestrator registers it (go-livepeer -liveRunnerConfig schema). */
export function devRunners(runnerUrl: string, payments: boolean): unknown {
  const common = { routing: "label", runner_url: runnerUrl, health_url: `${runnerUrl}/health`, version: "1", gpu: { id: "cpu", name: "CPU", vram_mb: 0 } };
  return {
    runners: [
      { ...common, label: "example-session", app: "example/session", mode: "persistent", capacity: 4, ...(payments ? { price_info: { price: 0.01, currency: "usd", unit: "hour" } } : {}) },
      { ...common, label: "example-run", app: "example/run", mode: "single-shot", capacity: 8, ...(payments ? { price_info: { price: 0.00001, currency: "usd", unit: "fixed" } } : {}) },
    ],
  };
}

/** The BYOC capability every development orchestrator hosts: the example runner, priced per second when paid. */
export const DEV_BYOC_CAPABILITY = "example-byoc";
/** Wei per second of a BYOC job on a paying development orchestrator. */
export const DEV_BYOC_WEI_PER_SECOND = 1_000_000;

async function registerDevByoc(orchestratorUrl: string, orchSecret: string, runnerUrl: string, payments: boolean): Promise<void> {
  const res = await request(`${orchestratorUrl}/capability/register`, {
    method: "POST",
    dispatcher: orchestratorDispatcher(),
    headers: { authorization: orchSecret, "content-type": "application/json" },
    body: JSON.stringify({ name: DEV_BYOC_CAPABILITY, url: runnerUrl, capacity: 4, price_per_unit: payments ? DEV_BYOC_WEI_PER_SECOND : 0, price_scaling: 1, currency: "wei" }),
    signal: AbortSignal.timeout(10_000),
  });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`${orchestratorUrl}/capability/register answered ${res.statusCode}`);
}

export interface DevNetwork {
  addresses: string[];
  /** Address -> region label (dev-1, dev-2, ...), for regional steering. */
  regions: Record<string, string>;
  /** The development remote signer (http://127.0.0.1:port), when started. */
  signerUrl?: string;
  stop(): Promise<void>;
}

export interface DevNetworkOptions {
  orchestrators: number;
  host: string;
  dataDir: string;
  /** Start a development signer and make the orchestrators require payment. */
  payments: boolean;
}

interface Listening {
  url: string;
  line: Record<string, unknown>;
}

/** One development program, kept running: restarted on the same port when it exits unexpectedly. */
class DevProgram {
  private child: ChildProcess | undefined;
  private stopping = false;
  private port = 0;

  constructor(
    private readonly label: string,
    private readonly entry: string,
    private readonly args: (port: number) => string[],
    /** Set up what the program keeps only in memory, after every start (restarts too). */
    private readonly onListening?: (url: string) => Promise<void>,
  ) {}

  async start(): Promise<Listening> {
    const l = await this.launch();
    this.port = Number(new URL(l.url).port);
    await this.onListening?.(l.url);
    return l;
  }

  private launch(): Promise<Listening> {
    const script = join(here, "..", this.entry + (runningFromSource ? ".ts" : ".js"));
    const child = spawn(process.execPath, [...(runningFromSource ? ["--import", "tsx"] : []), script, ...this.args(this.port)], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, WHARF_EXIT_WITH_PARENT: "1", WHARF_LOG_LEVEL: process.env.WHARF_LOG_LEVEL ?? "warn" },
    });
    this.child = child;
    return new Promise((resolve, reject) => {
      let out = "";
      let err = "";
      const timer = setTimeout(() => reject(new Error(`${this.label} did not start in ${START_TIMEOUT_MS / 1000} s: ${err.slice(-500)}`)), START_TIMEOUT_MS);
      child.stderr!.on("data", (d) => (err = (err + d).slice(-4000)));
      child.stdout!.on("data", (d) => {
        out += d;
        const text = out.split("\n").find((l) => l.startsWith("{") && l.includes('"listening"'));
        if (!text) return;
        clearTimeout(timer);
        const line = JSON.parse(text) as Record<string, unknown>;
        child.stdout!.removeAllListeners("data");
        child.stdout!.resume();
        child.once("exit", (code, signal) => this.exited(code, signal));
        resolve({ url: String(line.listening), line });
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.label} exited with ${code}: ${err.slice(-500)}`));
      });
    });
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return;
    log.warn({ program: this.label, code, signal }, "development program exited; restarting it");
    setTimeout(() => {
      if (this.stopping) return;
      this.launch().then(
        (l) => {
          log.info({ program: this.label, url: l.url }, "development program restarted");
          this.onListening?.(l.url).catch((err: Error) => log.error({ program: this.label, err: err.message }, "development program not set up again after its restart"));
        },
        (err: Error) => {
          log.error({ program: this.label, err: err.message }, "development program could not be restarted");
          this.exited(null, null);
        },
      );
    }, RESTART_DELAY_MS).unref();
  }

  stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    return new Promise((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill("SIGKILL"), 2500);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill("SIGTERM");
    });
  }
}

export async function startDevNetwork(o: DevNetworkOptions): Promise<DevNetwork> {
  const host = o.host === "0.0.0.0" || o.host === "::" ? "127.0.0.1" : o.host;
  const programs: DevProgram[] = [];
  try {
    let signerUrl: string | undefined;
    if (o.payments) {
      const signer = new DevProgram("dev signer", "signer/main", (port) => ["--port", String(port), "--host", host, "--http", "--data-dir", join(o.dataDir, "dev-signer")]);
      programs.push(signer);
      signerUrl = (await signer.start()).url;
    }
    // The example app every orchestrator hosts, so GET /v1/apps lists something on a fresh machine.
    const runner = new DevProgram("example runner", "orchestrator/example-runner/main", (port) => ["--port", String(port), "--host", host]);
    programs.push(runner);
    const runnerUrl = (await runner.start()).url;
    const runnersFile = join(o.dataDir, "dev-runners.json");
    mkdirSync(o.dataDir, { recursive: true });
    writeFileSync(runnersFile, JSON.stringify(devRunners(runnerUrl, o.payments), null, 2));
    // The same app as a BYOC container: go-livepeer registers those over HTTP with its orchSecret.
    const orchSecret = randomBytes(16).toString("hex");
    const registerByoc = (url: string) => registerDevByoc(url, orchSecret, runnerUrl, o.payments);
    const orchestrators = Array.from(
      { length: o.orchestrators },
      (_, i) =>
        new DevProgram(`dev orchestrator ${i + 1}`, "orchestrator/main", (port) => [
          "--port", String(port),
          "--host", host,
          "--region", `dev-${i + 1}`,
          "--cert-dir", join(o.dataDir, "dev-orchestrator-certs", String(i + 1)),
          "--runners", runnersFile,
          "--orch-secret", orchSecret,
          ...(o.payments ? ["--require-payment", ...DEV_PRICE_ARGS] : []),
        ], registerByoc),
    );
    programs.push(...orchestrators);
    const started = await Promise.all(orchestrators.map((p) => p.start()));
    const addresses = started.map((s) => s.url);
    log.info({ addresses, signer: signerUrl ?? null }, "development network started");
    return {
      addresses,
      regions: Object.fromEntries(addresses.map((a, i) => [a, `dev-${i + 1}`])),
      signerUrl,
      stop: async () => {
        await Promise.all(programs.map((p) => p.stop()));
      },
    };
  } catch (err) {
    await Promise.all(programs.map((p) => p.stop()));
    throw err;
  }
}
