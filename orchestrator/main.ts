// CLI of the development orchestrator: `npm run orchestrator -- --port 8936 --http`.
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { stopAllFfmpeg } from "../core/ffmpeg.ts";
import { moduleLogger } from "../core/log.ts";
import { pipelineToCapability } from "../protocol/capabilities.ts";
import { startOrchestrator, type CapabilityPriceOption, type OrchestratorOptions } from "./orchestrator.ts";
import { AI_CLI_OPTIONS, AI_USAGE, aiFeatureFromCli } from "./ai/cli.ts";
import { LIVE_CLI_OPTIONS, LIVE_USAGE, liveFeatureFromCli } from "./live/cli.ts";
import { APPS_CLI_OPTIONS, APPS_USAGE, appsFeatureFromCli } from "./apps/cli.ts";

export const USAGE = `Wharf development orchestrator (speaks the go-livepeer orchestrator wire protocol)

Usage: npm run orchestrator -- [options]

  --port N               listen port (default 8936: 8935 is Wharf's; 0 = any free port)
  --host H               listen host (default 127.0.0.1)
  --http                 plaintext (h2c gRPC + HTTP/1.1); default is TLS with a self-signed certificate
  --service-url URL      advertised transcoder URL (default scheme://host:port)
  --price-per-unit N     transcoding price in wei per --pixels-per-unit pixels (default 0)
  --pixels-per-unit N    (default 1)
  --capacity N           max concurrent transcoding sessions (default 10)
  --region R             region label (shown at GET /wharf/status)
  --latency-ms N         added latency before each answer (default 0)
  --fail-rate P          probability 0..1 of failing a request (default 0)
  --exit-after-segments N  exit (code 3) after serving N segments
  --ai-price SPEC        per-capability price, repeatable: <pipeline|capId>[:<model>]=<price>[/<pixels>]
                         e.g. --ai-price text-to-image:sdxl=10/1 --ai-price live-video-to-video=5
  --x264-preset P        libx264 preset (default veryfast)
  --cert-dir DIR         cache the self-signed certificate in DIR
  --require-payment      require payment like an on-chain go-livepeer orchestrator: GetOrchestrator
                         checks the sender's signature and answers ticket params (an ephemeral recipient
                         key per process), paid routes credit tickets, refuse work the balance does not
                         cover (400 Insufficient balance) and debit it; GET /wharf/payments shows balances
  --ticket-ev WEI        required EV per ticket with --require-payment (default 8000000000, go's
                         -ticketEV); the face value is 100 x EV
  --control              serve POST /wharf/configure to change knobs at runtime (tests, demos):
                         {"capacity","latencyMs","failRate","ai":{"capacity","latencyMs":{"<pipeline>":ms},
                         "llmTokenDelayMs","zeroCost","resultsUnavailable"},"payments":{"advanceBlocks"}}
  --help                 this text
${AI_USAGE}${LIVE_USAGE}${APPS_USAGE}`;

export class UsageError extends Error {}

function num(name: string, v: string | undefined, opts: { min?: number; max?: number; int?: boolean } = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) {
    throw new UsageError(`--${name}: invalid value "${v}"`);
  }
  return n;
}

export function parseAiPrice(spec: string): CapabilityPriceOption {
  const m = /^([^:=]+)(?::([^=]+))?=(\d+)(?:\/(\d+))?$/.exec(spec.trim());
  if (!m) throw new UsageError(`--ai-price: expected <pipeline|capId>[:<model>]=<price>[/<pixels>], got "${spec}"`);
  const capability = /^\d+$/.test(m[1]!) ? Number(m[1]) : pipelineToCapability(m[1]!);
  if (capability === undefined) throw new UsageError(`--ai-price: unknown pipeline "${m[1]}"`);
  const pixelsPerUnit = m[4] ? Number(m[4]) : 1;
  if (pixelsPerUnit <= 0) throw new UsageError("--ai-price: pixels must be > 0");
  return { capability, modelId: m[2], pricePerUnit: Number(m[3]), pixelsPerUnit };
}

/** Parse CLI arguments into options; throws UsageError. Returns undefined for --help. */
export function parseCli(argv: string[]): OrchestratorOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        http: { type: "boolean" },
        "service-url": { type: "string" },
        "price-per-unit": { type: "string" },
        "pixels-per-unit": { type: "string" },
        capacity: { type: "string" },
        region: { type: "string" },
        "latency-ms": { type: "string" },
        "fail-rate": { type: "string" },
        "exit-after-segments": { type: "string" },
        "ai-price": { type: "string", multiple: true },
        "x264-preset": { type: "string" },
        "cert-dir": { type: "string" },
        control: { type: "boolean" },
        "require-payment": { type: "boolean" },
        "ticket-ev": { type: "string" },
        ...AI_CLI_OPTIONS,
        ...LIVE_CLI_OPTIONS,
        ...APPS_CLI_OPTIONS,
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return undefined;
  if (v["service-url"] !== undefined && !/^https?:\/\/[^/]+/.test(v["service-url"])) {
    throw new UsageError(`--service-url: expected http(s)://host:port, got "${v["service-url"]}"`);
  }
  return {
    port: num("port", v.port, { min: 0, max: 65535, int: true }),
    host: v.host,
    http: v.http ?? false,
    serviceUrl: v["service-url"],
    pricePerUnit: num("price-per-unit", v["price-per-unit"], { min: 0, int: true }),
    pixelsPerUnit: num("pixels-per-unit", v["pixels-per-unit"], { min: 1, int: true }),
    capacity: num("capacity", v.capacity, { min: 0, int: true }),
    region: v.region,
    latencyMs: num("latency-ms", v["latency-ms"], { min: 0 }),
    failRate: num("fail-rate", v["fail-rate"], { min: 0, max: 1 }),
    exitAfterSegments: num("exit-after-segments", v["exit-after-segments"], { min: 1, int: true }),
    capabilityPrices: (v["ai-price"] ?? []).map(parseAiPrice),
    x264Preset: v["x264-preset"],
    certDir: v["cert-dir"],
    control: v.control ?? false,
    requirePayment: v["require-payment"] ?? false,
    ticketEV: ticketEV(v["ticket-ev"], v["require-payment"] ?? false),
    features: aiFeatures(v),
  };
}

function ticketEV(v: string | undefined, requirePayment: boolean): bigint | undefined {
  if (v === undefined) return undefined;
  if (!requirePayment) throw new UsageError("--ticket-ev: only with --require-payment");
  if (!/^\d+$/.test(v.trim()) || BigInt(v.trim()) <= 0n) throw new UsageError(`--ticket-ev: expected a whole number of wei > 0, got "${v}"`);
  return BigInt(v.trim());
}

function aiFeatures(v: Record<string, unknown>): OrchestratorOptions["features"] {
  try {
    const ai = aiFeatureFromCli(v);
    const live = liveFeatureFromCli(v);
    const apps = appsFeatureFromCli(v);
    return [...(ai ? [ai] : []), ...(live ? [live] : []), ...(apps ? [apps] : [])];
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function main(): Promise<void> {
  const log = moduleLogger("dev-orchestrator");
  let opts: OrchestratorOptions | undefined;
  try {
    opts = parseCli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (!opts) {
    process.stdout.write(USAGE);
    return;
  }
  // Signal handlers first: a supervisor may signal as soon as it reads the "listening" line.
  let orch: Awaited<ReturnType<typeof startOrchestrator>> | undefined;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1 || !orch) process.exit(signals > 1 ? 1 : 0);
    log.info({ sig }, "stopping");
    void orch
      .stop(3000)
      .then(() => stopAllFfmpeg(500))
      .then(() => process.exit(0));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  if (process.env.WHARF_EXIT_WITH_PARENT) {
    // Started by a gateway (embedded dev network): stdin closes when that process dies,
    // even by SIGKILL, so no orphan keeps the port.
    process.stdin.on("end", () => onSignal("SIGTERM"));
    process.stdin.on("close", () => onSignal("SIGTERM"));
    process.stdin.resume();
  }
  orch = await startOrchestrator({
    ...opts,
    logger: log,
    onDie: () => {
      void stopAllFfmpeg(200).finally(() => process.exit(3));
    },
  });
  // One machine-readable line for scripts and tests.
  process.stdout.write(`${JSON.stringify({ listening: orch.url, serviceUrl: orch.serviceUrl, certFingerprint256: orch.certFingerprint256 ?? null, ...(orch.recipient ? { recipient: orch.recipient } : {}) })}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`orchestrator failed to start: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
