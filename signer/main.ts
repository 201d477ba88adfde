// CLI of the development remote signer: `npm run signer -- --port 8940 --http`. Prints one JSON
// line {"listening": url, "address": "0x..."} on stdout once it serves; logs go to stderr.
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { pino } from "pino";
import { Rational } from "../protocol/payments/rational.ts";
import { DEFAULT_MAX_TICKET_EV_WEI, DEFAULT_MAX_TOTAL_EV_WEI } from "../protocol/payments/ticket-params.ts";
import { startSigner, SignerConfigError, type SignerOptions } from "./signer.ts";


export const DEFAULT_PORT = 8940;
export const DEFAULT_DATA_DIR = "./data/signer";

export const USAGE = `Wharf development remote signer (speaks go-livepeer's remote signer protocol)

Usage: npm run signer -- [options]

  --port N               listen port (default ${DEFAULT_PORT}; 0 = any free port)
  --host H               listen host (default 127.0.0.1; other hosts need --webhook or --allow-no-auth)
  --http                 plaintext HTTP (as go-livepeer's signer); default HTTPS, self-signed certificate
  --data-dir DIR         where the key lives: DIR/signer-key, created on first start (default ${DEFAULT_DATA_DIR})
  --max-ticket-ev WEI    largest ticket EV accepted (default ${DEFAULT_MAX_TICKET_EV_WEI}, go's -maxTicketEV)
  --max-total-ev WEI     largest EV of one payment (default ${DEFAULT_MAX_TOTAL_EV_WEI}, go's -maxTotalEV)
  --max-price P          refuse (481) orchestrators above P wei per pixel/unit; "W/N" for W wei per N
  --l1-block N           the L1 block the signer takes as latest: ticket params expiring within
                         one block of it answer 480 (default 0)
  --webhook URL          auth webhook asked before each payment ({headers, state} -> {status, ...})
  --webhook-headers H    headers for the webhook, 'k:v,k2:v2'
  --allow-no-auth        serve a non-loopback host without a webhook (UNSAFE: anyone reaching it pays)
  --orchestrators LIST   comma-separated orchestrator URLs for GET /discover-orchestrators
  --discovery-interval S seconds between GetOrchestrator rounds (default 60)
  --faults               enable POST /wharf/faults and POST /wharf/exit (tests)
  --lv2v-prepay-seconds N  seconds the first lv2v payment prepays (default 60, as go-livepeer; tests)
  --help                 this text
`;

export class UsageError extends Error {}

function seconds(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`--${name}: expected seconds > 0, got "${v}"`);
  return n;
}

function wei(name: string, v: string | undefined): Rational | undefined {
  if (v === undefined) return undefined;
  const r = Rational.parse(v);
  if (!r || r.sign() <= 0) throw new UsageError(`--${name}: expected a positive amount of wei, got "${v}"`);
  return r;
}

/** 'k:v,k2:v2' as go-livepeer's -remoteSignerWebhookHeaders. */
export function parseHeaderList(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(",")) {
    const i = part.indexOf(":");
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    if (k) out[k] = part.slice(i + 1).trim();
  }
  return out;
}

export type SignerCliOptions = Omit<SignerOptions, "log">;

/** Parse CLI arguments; throws UsageError. Undefined for --help. */
export function parseCli(argv: string[]): SignerCliOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        http: { type: "boolean" },
        "data-dir": { type: "string" },
        "max-ticket-ev": { type: "string" },
        "max-total-ev": { type: "string" },
        "max-price": { type: "string" },
        "l1-block": { type: "string" },
        webhook: { type: "string" },
        "webhook-headers": { type: "string" },
        "allow-no-auth": { type: "boolean" },
        orchestrators: { type: "string" },
        "discovery-interval": { type: "string" },
        faults: { type: "boolean" },
        "lv2v-prepay-seconds": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return undefined;
  const port = v.port === undefined ? DEFAULT_PORT : Number(v.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: invalid value "${v.port}"`);
  if (v["l1-block"] !== undefined && !/^\d+$/.test(v["l1-block"])) throw new UsageError(`--l1-block: expected a block number, got "${v["l1-block"]}"`);
  if (v.webhook !== undefined && !/^https?:\/\/[^/]+/.test(v.webhook)) throw new UsageError(`--webhook: expected an http(s) URL, got "${v.webhook}"`);
  const interval = v["discovery-interval"] === undefined ? undefined : Number(v["discovery-interval"]);
  if (interval !== undefined && !(interval > 0)) throw new UsageError(`--discovery-interval: expected seconds > 0, got "${v["discovery-interval"]}"`);
  return {
    port,
    host: v.host,
    http: v.http ?? false,
    dataDir: v["data-dir"] ?? DEFAULT_DATA_DIR,
    limits: {
      maxTicketEV: wei("max-ticket-ev", v["max-ticket-ev"]) ?? Rational.of(DEFAULT_MAX_TICKET_EV_WEI),
      maxTotalEV: wei("max-total-ev", v["max-total-ev"]) ?? Rational.of(DEFAULT_MAX_TOTAL_EV_WEI),
    },
    configuredMaxPrice: wei("max-price", v["max-price"]),
    lastSeenL1Block: v["l1-block"] === undefined ? 0n : BigInt(v["l1-block"]),
    authWebhook: v.webhook ? { url: v.webhook, headers: parseHeaderList(v["webhook-headers"] ?? "") } : undefined,
    allowNoAuth: v["allow-no-auth"] ?? false,
    orchestrators: (v.orchestrators ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    discoveryIntervalMs: interval === undefined ? undefined : interval * 1000,
    faults: v.faults ?? false,
    lv2vPrepaidSeconds: seconds("lv2v-prepay-seconds", v["lv2v-prepay-seconds"]),
  };
}

async function main(): Promise<void> {
  // stdout carries only the machine-readable line; logs go to stderr.
  const log = pino({ level: process.env.WHARF_LOG_LEVEL ?? "info", base: { app: "wharf", module: "dev-signer" } }, pino.destination(2));
  let opts: SignerCliOptions | undefined;
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
  let signer: Awaited<ReturnType<typeof startSigner>> | undefined;
  const onSignal = () => {
    if (!signer) process.exit(0);
    void signer.close().then(() => process.exit(0));
    setTimeout(() => process.exit(1), 3000).unref();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    signer = await startSigner({ ...opts, log });
  } catch (err) {
    process.stderr.write(`signer failed to start: ${(err as Error).message}\n`);
    process.exit(err instanceof SignerConfigError ? 2 : 1);
  }
  process.stdout.write(`${JSON.stringify({ listening: signer.url, address: signer.address })}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`signer failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
