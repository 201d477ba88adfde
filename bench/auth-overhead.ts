// Cost of Wharf's business layer per request: API-key auth (hashed lookup + cache, IP
// allowlist, scope) and the per-key token bucket, against a route without them; and the
// durable usage record (SQLite WAL, synchronous=FULL) written before AI answers.
//
//   node --import tsx bench/auth-overhead.ts [--seconds 5] [--levels 1,16,64]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { request } from "undici";
import { createAccounts } from "../server/accounts/index.ts";
import { startWharf } from "../test/support/wharf.ts";
import { fmt, load, quantile } from "./support/load.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" }, levels: { type: "string", default: "1,16,64" } } });
const SECONDS = Number(values.seconds);
const LEVELS = values.levels!.split(",").map(Number);

async function main(): Promise<void> {
  const w = await startWharf({ env: { WHARF_LOG_LEVEL: "warn" } });
  try {
    // A key with a large rate limit, so the bucket is exercised but never refuses.
    const key = (await w.api("POST", "/v1/keys", { name: "bench", scopes: ["streams"], rateLimit: { requestsPerMinute: 1_000_000, burst: 1_000_000 }, ipAllowlist: ["127.0.0.0/8"] })).body.secret as string;
    const open = (a: import("undici").Agent) => request(`${w.http}/healthz`, { dispatcher: a }).then(async (r) => (await r.body.dump(), r.statusCode));
    const authed = (a: import("undici").Agent) =>
      request(`${w.http}/v1/streams`, { dispatcher: a, headers: { authorization: `Bearer ${key}` } }).then(async (r) => (await r.body.dump(), r.statusCode));
    console.log("| clients | route | req/s | p50 ms | p99 ms | errors |");
    console.log("|---|---|---|---|---|---|");
    for (const c of LEVELS) {
      const base = await load(c, SECONDS, open);
      const guarded = await load(c, SECONDS, authed);
      console.log(`| ${c} | GET /healthz (no auth) | ${fmt(base.rps, 0)} | ${fmt(base.p50)} | ${fmt(base.p99)} | ${base.errors} |`);
      console.log(`| ${c} | GET /v1/streams (auth + rate limit) | ${fmt(guarded.rps, 0)} | ${fmt(guarded.p50)} | ${fmt(guarded.p99)} | ${guarded.errors} |`);
      console.log(`| ${c} | added by auth + rate limit | | ${fmt(guarded.p50 - base.p50)} | ${fmt(guarded.p99 - base.p99)} | |`);
    }
  } finally {
    await w.stop();
  }

  // Metering: the usage insert every billable request waits for, in both ledger modes
  // (committed + fsynced within 100 ms, the default; fsynced before each acknowledgement).
  for (const fsyncMs of [100, 0]) {
    const dir = mkdtempSync(join(tmpdir(), "wharf-bench-meter-"));
    const accounts = createAccounts({ dataDir: dir, watchIntervalMs: 0, usageFsyncIntervalMs: fsyncMs });
    try {
      const { key } = await accounts.createKey({ name: "meter", scopes: ["ai"] });
      const lat: number[] = [];
      const n = 2000;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const s = performance.now();
        await accounts.recordBatchUsage({ keyId: key.id, pipeline: "text-to-image", model: "m", units: 1024 * 1024, orchestrator: "https://o", orchestratorCostWei: "1000000", requestId: `r${i}` });
        lat.push(performance.now() - s);
      }
      const elapsed = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      console.log(`\nusage record (usageFsyncIntervalMs ${fsyncMs}, sequential): ${fmt(n / elapsed, 0)} records/s, p50 ${fmt(quantile(lat, 0.5), 3)} ms, p99 ${fmt(quantile(lat, 0.99), 3)} ms`);
    } finally {
      await accounts.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
