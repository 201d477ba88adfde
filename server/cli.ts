// `npm run wharf -- <command>`: operator CLI on the accounts database.
//
//   keys create --name app --scopes streams,ai [--rpm 600] [--burst 100] [--ip 10.0.0.0/8]...
//               [--max-streams 5] [--daily-cap 5] [--monthly-cap 50]
//   keys list [--all]
//   keys update <id> [same limit flags; "none" clears a limit]
//   keys revoke <id>
//   usage [--from 2024-05-01] [--to 2024-06-01] [--key <id>] [--pipeline p] [--group-by day|pipeline|key] [--csv]
//   audit [--limit 50] [--action key.*] [--key <id>]
//   streams list | streams rotate-key <id>
//
// Global: --data-dir <dir> (default $WHARF_DATA_DIR or ./data), --json,
//         --database-url (default $WHARF_DATABASE_URL: cluster mode, the accounts in PostgreSQL).
// Works while the server runs (SQLite WAL, or PostgreSQL); the servers notice key changes within
// ~1 s, and at once in cluster mode with $WHARF_REDIS_URL set (the change is published on the
// cluster's channel, as a node publishes its own).
import { parseArgs } from "node:util";
import path from "node:path";
import { AccountsError, createAccounts, type Accounts, type UpdateKeyInput } from "./accounts/accounts.ts";
import { PostgresStorage } from "./accounts/postgres.ts";
import { formatMicros, fromMicros, toMicros } from "./accounts/pricing.ts";
import { publishKeyChanges } from "./cluster/cluster.ts";
import { SCOPES, type ApiKey, type Scope, type UsageGroupBy } from "./accounts/types.ts";

const HELP = `Usage: wharf [--data-dir DIR | --database-url URL] [--json] <command>

Commands:
  keys create --name NAME --scopes admin,streams,ai [--rpm N] [--burst N] [--ip CIDR]...
              [--max-streams N] [--daily-cap AMOUNT] [--monthly-cap AMOUNT]
  keys list [--all]                     list keys (--all includes revoked ones)
  keys update ID [limit flags]          change limits; "none" clears one (e.g. --rpm none)
  keys revoke ID                        revoke a key (its live streams are disconnected)
  usage [--from DATE] [--to DATE] [--key ID] [--pipeline P] [--group-by day|pipeline|key] [--csv]
  audit [--limit N] [--action ACTION] [--key ID]
  streams list [--all]                  list streams (--all includes deleted ones)
  streams rotate-key ID                 new stream key; the old one is refused at once

Data directory: --data-dir, else $WHARF_DATA_DIR, else ./data (the database is DIR/wharf.db).
Cluster mode: --database-url, else $WHARF_DATABASE_URL (postgres://...): the accounts in PostgreSQL;
with $WHARF_REDIS_URL (and $WHARF_CLUSTER_NAME) key revocations and changes reach the running nodes at once.
Amounts are in the operator's currency (e.g. --daily-cap 5 = 5.00 USD).`;

class UsageError extends Error {}

const options = {
  "data-dir": { type: "string" },
  "database-url": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  name: { type: "string" },
  scopes: { type: "string" },
  rpm: { type: "string" },
  burst: { type: "string" },
  ip: { type: "string", multiple: true },
  "max-streams": { type: "string" },
  "daily-cap": { type: "string" },
  "monthly-cap": { type: "string" },
  all: { type: "boolean" },
  from: { type: "string" },
  to: { type: "string" },
  key: { type: "string" },
  pipeline: { type: "string" },
  "group-by": { type: "string" },
  csv: { type: "boolean" },
  limit: { type: "string" },
  action: { type: "string" },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>["values"];

function cleared(v: string): boolean {
  return v === "none" || v === "null" || v === "off";
}

function int(v: string, flag: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer >= ${min} (got "${v}")`);
  return n;
}

function amount(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${flag} must be a non-negative amount (got "${v}")`);
  return toMicros(n);
}

function limitFlags(f: Flags, creating: boolean): UpdateKeyInput {
  const u: UpdateKeyInput = {};
  if (f.name !== undefined) u.name = f.name;
  if (f.scopes !== undefined) {
    const scopes = f.scopes.split(",").map((s) => s.trim()).filter(Boolean);
    for (const s of scopes) if (!SCOPES.includes(s as Scope)) throw new UsageError(`--scopes: unknown scope "${s}" (allowed: ${SCOPES.join(", ")})`);
    u.scopes = scopes as Scope[];
  }
  if (f.rpm !== undefined) {
    u.rateLimit = cleared(f.rpm) ? null : { requestsPerMinute: int(f.rpm, "rpm", 1), burst: f.burst === undefined ? undefined : int(f.burst, "burst", 1) };
  } else if (f.burst !== undefined) {
    throw new UsageError("--burst needs --rpm");
  }
  if (f.ip !== undefined) {
    const ips = f.ip.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
    u.ipAllowlist = ips.length === 1 && cleared(ips[0]!) ? null : ips;
  }
  if (f["max-streams"] !== undefined) u.maxConcurrentStreams = cleared(f["max-streams"]) ? null : int(f["max-streams"], "max-streams", 0);
  if (f["daily-cap"] !== undefined) u.dailyCapMicros = cleared(f["daily-cap"]) ? null : amount(f["daily-cap"], "daily-cap");
  if (f["monthly-cap"] !== undefined) u.monthlyCapMicros = cleared(f["monthly-cap"]) ? null : amount(f["monthly-cap"], "monthly-cap");
  if (creating) {
    if (!u.name) throw new UsageError("keys create needs --name");
    if (!u.scopes) throw new UsageError("keys create needs --scopes (e.g. --scopes streams,ai)");
  }
  return u;
}

function parseDate(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(v) || /(Z|[+-]\d{2}:?\d{2})$/.test(v) ? v : v + "Z");
  if (Number.isNaN(t)) throw new UsageError(`--${flag} must be a date like 2024-05-01 or 2024-05-01T12:00:00Z`);
  return t;
}

function table(rows: string[][]): string {
  if (rows.length === 0) return "";
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}

function describeKey(k: ApiKey, currency: string): string[] {
  const caps = [k.dailyCapMicros === null ? "-" : `${fromMicros(k.dailyCapMicros)}/day`, k.monthlyCapMicros === null ? "-" : `${fromMicros(k.monthlyCapMicros)}/month`];
  return [
    k.id, k.name, k.prefix + "…", k.scopes.join(","),
    k.rateLimit ? `${k.rateLimit.requestsPerMinute}/min (burst ${k.rateLimit.burst})` : "-",
    k.maxConcurrentStreams === null ? "-" : String(k.maxConcurrentStreams),
    caps[0] === "-" && caps[1] === "-" ? "-" : `${caps.join(", ")} ${currency}`,
    k.ipAllowlist ? k.ipAllowlist.join(",") : "any",
    new Date(k.createdAt).toISOString(),
    k.revokedAt === null ? "" : `revoked ${new Date(k.revokedAt).toISOString()}`,
  ];
}

const KEY_HEADER = ["ID", "NAME", "PREFIX", "SCOPES", "RATE", "STREAMS", "SPEND CAPS", "IPS", "CREATED", ""];

async function run(accounts: Accounts, cmd: string[], f: Flags, out: (s: string) => void): Promise<void> {
  const json = f.json === true;
  const currency = accounts.priceBook.currency;
  const [group, sub, arg] = cmd;
  if (group === "keys") {
    if (sub === "create") {
      const u = limitFlags(f, true);
      const { key, secret } = await accounts.createKey({ ...u, name: u.name!, scopes: u.scopes! });
      if (json) return out(JSON.stringify({ secret, key }, null, 2));
      out(`Created API key ${key.id} (${key.name}).`);
      out(`Secret (shown once; store it now):\n\n  ${secret}\n`);
      return;
    }
    if (sub === "list") {
      const keys = await accounts.listKeys({ includeRevoked: f.all === true });
      if (json) return out(JSON.stringify(keys, null, 2));
      if (keys.length === 0) return out("No API keys.");
      return out(table([KEY_HEADER, ...keys.map((k) => describeKey(k, currency))]));
    }
    if (sub === "update") {
      if (!arg) throw new UsageError("keys update needs a key id");
      const key = await accounts.updateKey(arg, limitFlags(f, false));
      return out(json ? JSON.stringify(key, null, 2) : table([KEY_HEADER, describeKey(key, currency)]));
    }
    if (sub === "revoke") {
      if (!arg) throw new UsageError("keys revoke needs a key id");
      const key = await accounts.revokeKey(arg);
      return out(json ? JSON.stringify(key, null, 2) : `Revoked ${key.id} (${key.name}).`);
    }
    throw new UsageError(`unknown keys command "${sub ?? ""}" (create, list, update, revoke)`);
  }
  if (group === "streams") {
    if (sub === "list") {
      const streams = await accounts.listStreams({ includeDeleted: f.all === true });
      if (json) return out(JSON.stringify(streams.map(({ streamKey: _secret, ...s }) => s), null, 2));
      if (streams.length === 0) return out("No streams.");
      return out(table([
        ["ID", "NAME", "PIPELINE", "OWNER", "CREATED", ""],
        ...streams.map((s) => [s.id, s.name, s.pipeline, s.ownerKeyId, new Date(s.createdAt).toISOString(), s.deletedAt === null ? "" : "deleted"]),
      ]));
    }
    if (sub === "rotate-key") {
      if (!arg) throw new UsageError("streams rotate-key needs a stream id");
      const s = await accounts.rotateStreamKey(arg);
      if (json) return out(JSON.stringify({ id: s.id, streamKey: s.streamKey }, null, 2));
      out(`New stream key for ${s.id} (${s.name}); the old key is refused from now on:\n\n  ${s.streamKey}\n`);
      return;
    }
    throw new UsageError(`unknown streams command "${sub ?? ""}" (list, rotate-key)`);
  }
  if (group === "usage") {
    const now = Date.now();
    const from = parseDate(f.from, "from") ?? Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
    const to = parseDate(f.to, "to") ?? now + 1;
    const by = f["group-by"] as UsageGroupBy | undefined;
    if (by !== undefined && !["day", "pipeline", "key"].includes(by)) throw new UsageError("--group-by must be day, pipeline or key");
    const q = { from, to, keyId: f.key, pipeline: f.pipeline };
    if (f.csv) return out((await accounts.usageCsv(q, by)).trimEnd());
    if (by) {
      const groups = await accounts.groupUsage(q, by);
      if (json) return out(JSON.stringify(groups, null, 2));
      const total = groups.reduce((s, g) => s + g.chargeMicros, 0);
      const paidTotal = accounts.priceBook.weiToMicros(groups.reduce((s, g) => s + BigInt(g.paidWei), 0n));
      return out(table([
        [by.toUpperCase(), "RECORDS", "UNITS", "SECONDS", "ORCH COST (WEI)", "PAID EV (WEI)", `PAID (${currency})`, `CHARGE (${currency})`, `MARGIN (${currency})`],
        ...groups.map((g) => {
          const paid = accounts.priceBook.weiToMicros(BigInt(g.paidWei));
          return [g.group, String(g.records), String(g.units), (g.durationMs / 1000).toFixed(0), g.orchestratorCostWei, g.paidWei, formatMicros(paid), formatMicros(g.chargeMicros), formatMicros(g.chargeMicros - paid)];
        }),
        ["TOTAL", "", "", "", "", "", formatMicros(paidTotal), formatMicros(total), formatMicros(total - paidTotal)],
      ]));
    }
    const records = await accounts.listUsage(q);
    if (json) return out(JSON.stringify(records, null, 2));
    if (records.length === 0) return out("No usage in this period.");
    return out(table([
      ["TIME", "KEY", "PIPELINE", "MODEL/STREAM", "UNITS", "SECONDS", "ORCHESTRATOR", "PAID EV (WEI)", `CHARGE (${currency})`, `MARGIN (${currency})`],
      ...records.map((r) => [
        new Date(r.ts).toISOString(), r.keyId, r.pipeline, r.model ?? r.streamId ?? "", String(r.units), (r.durationMs / 1000).toFixed(0), r.orchestrator ?? "",
        r.paidWei, formatMicros(r.chargeMicros), formatMicros(r.chargeMicros - accounts.priceBook.weiToMicros(BigInt(r.paidWei))),
      ]),
    ]));
  }
  if (group === "audit") {
    const entries = await accounts.queryAudit({ limit: f.limit === undefined ? 50 : int(f.limit, "limit", 1), action: f.action, keyId: f.key });
    if (json) return out(JSON.stringify(entries, null, 2));
    if (entries.length === 0) return out("No audit entries.");
    return out(table([
      ["TIME", "ACTOR", "ACTION", "TARGET", "IP", "DETAILS"],
      ...entries.map((e) => [new Date(e.ts).toISOString(), e.actor, e.action, e.target ?? "", e.remoteIp ?? "", JSON.stringify(e.details)]),
    ]));
  }
  throw new UsageError(group ? `unknown command "${group}"` : "no command given");
}

export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + "\n"), err: (s: string) => void = (s) => process.stderr.write(s + "\n")): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    err(`wharf: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const f = parsed.values;
  if (f.help || parsed.positionals.length === 0) {
    (f.help ? out : err)(HELP);
    return f.help ? 0 : 2;
  }
  const dataDir = path.resolve(f["data-dir"] ?? process.env.WHARF_DATA_DIR ?? "./data");
  const databaseUrl = f["database-url"] ?? process.env.WHARF_DATABASE_URL ?? "";
  let accounts: Accounts | undefined;
  try {
    const storage = databaseUrl ? await PostgresStorage.open(databaseUrl, { max: 2 }).catch((e: Error) => { throw new Error(`cannot open the PostgreSQL accounts database: ${e.message}`); }) : undefined;
    accounts = createAccounts({ dataDir, watchIntervalMs: 0, ...(storage ? { storage } : {}) });
    const changes: Array<{ type: "keyRevoked" | "keyChanged"; keyId: string }> = [];
    accounts.on("keyRevoked", (keyId) => changes.push({ type: "keyRevoked", keyId }));
    accounts.on("keyLimitsChanged", (keyId) => changes.push({ type: "keyChanged", keyId }));
    await run(accounts, parsed.positionals, f, out);
    const redisUrl = process.env.WHARF_REDIS_URL ?? "";
    if (storage && redisUrl && changes.length) {
      // Committed already: the nodes also see it by polling PostgreSQL within ~1 s if this fails.
      await publishKeyChanges(redisUrl, process.env.WHARF_CLUSTER_NAME || "wharf", changes).catch((e: Error) =>
        err(`wharf: warning: the change is committed but was not published to the running nodes (${e.message}); they pick it up within about a second`));
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`wharf: ${e.message}\n\n${HELP}`);
      return 2;
    }
    if (e instanceof AccountsError) {
      err(`wharf: ${e.field && !e.message.includes(e.field) ? `${e.field}: ` : ""}${e.message}`);
      return e.code === "not_found" ? 3 : 2;
    }
    err(`wharf: ${(e as Error).message}`);
    return 1;
  } finally {
    await accounts?.close();
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
