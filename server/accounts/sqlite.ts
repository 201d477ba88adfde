// SQLite implementation of AccountsStorage (better-sqlite3).
//
// Durability: journal_mode=WAL. A commit appends to the -wal file, so whatever has
// been committed survives a crash or SIGKILL of Wharf. When it is also safe from an
// OS crash or power loss is the usage ledger's setting (usage-ledger.ts): by default
// the main connection commits with synchronous=NORMAL and the ledger thread fsyncs
// the WAL every 100 ms and checkpoints it; `usageFsyncIntervalMs: 0` fsyncs every
// commit (synchronous=FULL) instead.
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import path from "node:path";
import type {
  AccountsStorage, ApiKeyRow, AuditEntry, AuditQuery, AuditStore, KeyLimitsPatch, KeyStore, MetaStore,
  NewAuditEntry, NewUsageRecord, Scope, StreamRecord, StreamStore, UsageGroup, UsageGroupBy, UsageQuery,
  UsageRecord, UsageStore,
} from "./types.ts";
import { UsageLedger, type UsageLedgerOptions } from "./usage-ledger.ts";

export type DB = Database.Database;

/** Ordered migrations; index + 1 = schema version. Never edit a shipped entry — append. */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  CREATE TABLE api_keys (
    id                     TEXT PRIMARY KEY,
    name                   TEXT NOT NULL,
    prefix                 TEXT NOT NULL,
    secret_hash            TEXT NOT NULL UNIQUE,
    scopes                 TEXT NOT NULL,
    ip_allowlist           TEXT,
    rate_limit_rpm         INTEGER,
    rate_limit_burst       INTEGER,
    max_concurrent_streams INTEGER,
    daily_cap_micros       INTEGER,
    monthly_cap_micros     INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    revoked_at             INTEGER
  );

  CREATE TABLE streams (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    pipeline     TEXT NOT NULL,
    owner_key_id TEXT NOT NULL REFERENCES api_keys(id),
    stream_key   TEXT NOT NULL UNIQUE,
    config       TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    deleted_at   INTEGER
  );
  CREATE INDEX streams_owner ON streams(owner_key_id, created_at);

  CREATE TABLE usage (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    ts                    INTEGER NOT NULL,
    kind                  TEXT NOT NULL CHECK (kind IN ('batch', 'stream')),
    key_id                TEXT NOT NULL,
    pipeline              TEXT NOT NULL,
    model                 TEXT,
    stream_id             TEXT,
    request_id            TEXT,
    units                 INTEGER NOT NULL DEFAULT 0,
    duration_ms           INTEGER NOT NULL DEFAULT 0,
    orchestrator          TEXT,
    orchestrator_cost_wei TEXT NOT NULL DEFAULT '0',
    charge_micros         INTEGER NOT NULL,
    currency              TEXT NOT NULL
  );
  CREATE INDEX usage_key_ts ON usage(key_id, ts);
  CREATE INDEX usage_ts ON usage(ts);
  CREATE UNIQUE INDEX usage_request ON usage(request_id) WHERE request_id IS NOT NULL;

  CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT,
    details   TEXT NOT NULL DEFAULT '{}',
    remote_ip TEXT
  );
  CREATE INDEX audit_ts ON audit_log(ts);
  CREATE INDEX audit_action ON audit_log(action, id);
  CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
  CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
  `,
  // 2: usage ids without AUTOINCREMENT. Usage rows are never deleted, so a plain rowid is
  // just as monotonic, and every insert no longer updates sqlite_sequence (one B-tree
  // page less per commit: ~20 % of a usage commit).
  `
  CREATE TABLE usage_v2 (
    id                    INTEGER PRIMARY KEY,
    ts                    INTEGER NOT NULL,
    kind                  TEXT NOT NULL CHECK (kind IN ('batch', 'stream')),
    key_id                TEXT NOT NULL,
    pipeline              TEXT NOT NULL,
    model                 TEXT,
    stream_id             TEXT,
    request_id            TEXT,
    units                 INTEGER NOT NULL DEFAULT 0,
    duration_ms           INTEGER NOT NULL DEFAULT 0,
    orchestrator          TEXT,
    orchestrator_cost_wei TEXT NOT NULL DEFAULT '0',
    charge_micros         INTEGER NOT NULL,
    currency              TEXT NOT NULL
  );
  INSERT INTO usage_v2 SELECT * FROM usage;
  DROP TABLE usage;
  ALTER TABLE usage_v2 RENAME TO usage;
  CREATE INDEX usage_key_ts ON usage(key_id, ts);
  CREATE INDEX usage_ts ON usage(ts);
  CREATE UNIQUE INDEX usage_request ON usage(request_id) WHERE request_id IS NOT NULL;
  `,
];

export interface OpenOptions {
  /** FULL: every commit fsyncs the WAL. NORMAL: commits reach the OS, the ledger thread fsyncs (usage-ledger.ts). */
  synchronous?: "FULL" | "NORMAL";
  /** false: this connection never checkpoints by itself (the ledger thread does). */
  autoCheckpoint?: boolean;
}

export function openDatabase(file: string, opts: OpenOptions = {}): DB {
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${opts.synchronous ?? "FULL"}`);
  if (opts.autoCheckpoint === false) db.pragma("wal_autocheckpoint = 0");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  migrate(db);
  db.aggregate("wei_sum", {
    start: () => 0n,
    step: (total: bigint, v: unknown) => total + BigInt(typeof v === "string" || typeof v === "number" || typeof v === "bigint" ? v : 0),
    result: (total: bigint) => total.toString(),
  });
  return db;
}

export function migrate(db: DB): number {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  // IMMEDIATE: two processes (server + CLI) starting together must not both migrate.
  const run = db.transaction(() => {
    const row = db.prepare("SELECT version FROM schema_version").get() as { version: number } | undefined;
    let version = row?.version ?? 0;
    if (!row) db.prepare("INSERT INTO schema_version (version) VALUES (0)").run();
    if (version > MIGRATIONS.length) {
      throw new Error(`database schema version ${version} is newer than this Wharf (${MIGRATIONS.length}); upgrade Wharf`);
    }
    for (; version < MIGRATIONS.length; version++) db.exec(MIGRATIONS[version]!);
    db.prepare("UPDATE schema_version SET version = ?").run(version);
    return version;
  });
  return run.immediate();
}

// ---------------------------------------------------------------- rows

interface KeyDbRow {
  id: string; name: string; prefix: string; secret_hash: string; scopes: string; ip_allowlist: string | null;
  rate_limit_rpm: number | null; rate_limit_burst: number | null; max_concurrent_streams: number | null;
  daily_cap_micros: number | null; monthly_cap_micros: number | null;
  created_at: number; updated_at: number; revoked_at: number | null;
}

function keyFromDb(r: KeyDbRow): ApiKeyRow {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    secretHash: r.secret_hash,
    scopes: JSON.parse(r.scopes) as Scope[],
    ipAllowlist: r.ip_allowlist === null ? null : (JSON.parse(r.ip_allowlist) as string[]),
    rateLimit: r.rate_limit_rpm === null ? null : { requestsPerMinute: r.rate_limit_rpm, burst: r.rate_limit_burst ?? r.rate_limit_rpm },
    maxConcurrentStreams: r.max_concurrent_streams,
    dailyCapMicros: r.daily_cap_micros,
    monthlyCapMicros: r.monthly_cap_micros,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    revokedAt: r.revoked_at,
  };
}

interface StreamDbRow {
  id: string; name: string; pipeline: string; owner_key_id: string; stream_key: string; config: string;
  created_at: number; deleted_at: number | null;
}

function streamFromDb(r: StreamDbRow): StreamRecord {
  return {
    id: r.id, name: r.name, pipeline: r.pipeline, ownerKeyId: r.owner_key_id, streamKey: r.stream_key,
    config: JSON.parse(r.config) as Record<string, unknown>, createdAt: r.created_at, deletedAt: r.deleted_at,
  };
}

interface UsageDbRow {
  id: number; ts: number; kind: "batch" | "stream"; key_id: string; pipeline: string; model: string | null;
  stream_id: string | null; request_id: string | null; units: number; duration_ms: number;
  orchestrator: string | null; orchestrator_cost_wei: string; charge_micros: number; currency: string;
}

function usageFromDb(r: UsageDbRow): UsageRecord {
  return {
    id: r.id, ts: r.ts, kind: r.kind, keyId: r.key_id, pipeline: r.pipeline, model: r.model, streamId: r.stream_id,
    requestId: r.request_id, units: r.units, durationMs: r.duration_ms, orchestrator: r.orchestrator,
    orchestratorCostWei: r.orchestrator_cost_wei, chargeMicros: r.charge_micros, currency: r.currency,
  };
}

interface AuditDbRow {
  id: number; ts: number; actor: string; action: string; target: string | null; details: string; remote_ip: string | null;
}

function auditFromDb(r: AuditDbRow): AuditEntry {
  return {
    id: r.id, ts: r.ts, actor: r.actor, action: r.action, target: r.target,
    details: JSON.parse(r.details) as Record<string, unknown>, remoteIp: r.remote_ip,
  };
}

// ---------------------------------------------------------------- stores

class SqliteKeyStore implements KeyStore {
  constructor(private readonly db: DB) {}

  async insert(k: ApiKeyRow): Promise<void> {
    this.db.prepare(
      `INSERT INTO api_keys (id, name, prefix, secret_hash, scopes, ip_allowlist, rate_limit_rpm, rate_limit_burst,
         max_concurrent_streams, daily_cap_micros, monthly_cap_micros, created_at, updated_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      k.id, k.name, k.prefix, k.secretHash, JSON.stringify(k.scopes), k.ipAllowlist === null ? null : JSON.stringify(k.ipAllowlist),
      k.rateLimit?.requestsPerMinute ?? null, k.rateLimit?.burst ?? null, k.maxConcurrentStreams, k.dailyCapMicros,
      k.monthlyCapMicros, k.createdAt, k.updatedAt, k.revokedAt,
    );
  }

  async get(id: string): Promise<ApiKeyRow | undefined> {
    const r = this.db.prepare("SELECT * FROM api_keys WHERE id = ?").get(id) as KeyDbRow | undefined;
    return r && keyFromDb(r);
  }

  async getByHash(hash: string): Promise<ApiKeyRow | undefined> {
    const r = this.db.prepare("SELECT * FROM api_keys WHERE secret_hash = ?").get(hash) as KeyDbRow | undefined;
    return r && keyFromDb(r);
  }

  async list(opts: { includeRevoked?: boolean } = {}): Promise<ApiKeyRow[]> {
    const sql = opts.includeRevoked ? "SELECT * FROM api_keys ORDER BY created_at, id" : "SELECT * FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at, id";
    return (this.db.prepare(sql).all() as KeyDbRow[]).map(keyFromDb);
  }

  async update(id: string, p: KeyLimitsPatch, now: number): Promise<ApiKeyRow | undefined> {
    const sets: string[] = [];
    const vals: unknown[] = [];
    const set = (col: string, v: unknown) => { sets.push(`${col} = ?`); vals.push(v); };
    if (p.name !== undefined) set("name", p.name);
    if (p.scopes !== undefined) set("scopes", JSON.stringify(p.scopes));
    if (p.ipAllowlist !== undefined) set("ip_allowlist", p.ipAllowlist === null ? null : JSON.stringify(p.ipAllowlist));
    if (p.rateLimit !== undefined) {
      set("rate_limit_rpm", p.rateLimit?.requestsPerMinute ?? null);
      set("rate_limit_burst", p.rateLimit?.burst ?? null);
    }
    if (p.maxConcurrentStreams !== undefined) set("max_concurrent_streams", p.maxConcurrentStreams);
    if (p.dailyCapMicros !== undefined) set("daily_cap_micros", p.dailyCapMicros);
    if (p.monthlyCapMicros !== undefined) set("monthly_cap_micros", p.monthlyCapMicros);
    set("updated_at", now);
    const r = this.db.prepare(`UPDATE api_keys SET ${sets.join(", ")} WHERE id = ? RETURNING *`).get(...vals, id) as KeyDbRow | undefined;
    return r && keyFromDb(r);
  }

  async revoke(id: string, now: number): Promise<ApiKeyRow | undefined> {
    const r = this.db.prepare(
      "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?), updated_at = CASE WHEN revoked_at IS NULL THEN ? ELSE updated_at END WHERE id = ? RETURNING *",
    ).get(now, now, id) as KeyDbRow | undefined;
    return r && keyFromDb(r);
  }

  async versions(): Promise<Map<string, { updatedAt: number; revokedAt: number | null }>> {
    const rows = this.db.prepare("SELECT id, updated_at, revoked_at FROM api_keys").all() as { id: string; updated_at: number; revoked_at: number | null }[];
    return new Map(rows.map((r) => [r.id, { updatedAt: r.updated_at, revokedAt: r.revoked_at }]));
  }
}

class SqliteStreamStore implements StreamStore {
  constructor(private readonly db: DB) {}

  async create(s: StreamRecord): Promise<StreamRecord> {
    this.db.prepare(
      "INSERT INTO streams (id, name, pipeline, owner_key_id, stream_key, config, created_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ).run(s.id, s.name, s.pipeline, s.ownerKeyId, s.streamKey, JSON.stringify(s.config), s.createdAt, s.deletedAt);
    return s;
  }

  async get(id: string): Promise<StreamRecord | undefined> {
    const r = this.db.prepare("SELECT * FROM streams WHERE id = ?").get(id) as StreamDbRow | undefined;
    return r && streamFromDb(r);
  }

  async list(opts: { ownerKeyId?: string; includeDeleted?: boolean } = {}): Promise<StreamRecord[]> {
    const where: string[] = [];
    const vals: unknown[] = [];
    if (opts.ownerKeyId !== undefined) { where.push("owner_key_id = ?"); vals.push(opts.ownerKeyId); }
    if (!opts.includeDeleted) where.push("deleted_at IS NULL");
    const sql = `SELECT * FROM streams ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created_at, id`;
    return (this.db.prepare(sql).all(...vals) as StreamDbRow[]).map(streamFromDb);
  }

  async delete(id: string, now: number): Promise<StreamRecord | undefined> {
    const r = this.db.prepare("UPDATE streams SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL RETURNING *").get(now, id) as StreamDbRow | undefined;
    return r && streamFromDb(r);
  }

  async findByStreamKey(streamKey: string): Promise<StreamRecord | undefined> {
    const r = this.db.prepare("SELECT * FROM streams WHERE stream_key = ? AND deleted_at IS NULL").get(streamKey) as StreamDbRow | undefined;
    return r && streamFromDb(r);
  }

  async update(id: string, p: Partial<Pick<StreamRecord, "name" | "config" | "streamKey">>): Promise<StreamRecord | undefined> {
    const sets: string[] = [];
    const vals: unknown[] = [];
    if (p.name !== undefined) { sets.push("name = ?"); vals.push(p.name); }
    if (p.config !== undefined) { sets.push("config = ?"); vals.push(JSON.stringify(p.config)); }
    if (p.streamKey !== undefined) { sets.push("stream_key = ?"); vals.push(p.streamKey); }
    if (!sets.length) return this.get(id);
    const r = this.db.prepare(`UPDATE streams SET ${sets.join(", ")} WHERE id = ? AND deleted_at IS NULL RETURNING *`).get(...vals, id) as StreamDbRow | undefined;
    return r && streamFromDb(r);
  }
}

/**
 * The usage insert as a group commit: the whole batch in one transaction. A record whose
 * requestId was recorded before returns the existing row (idempotent). If the batch
 * fails, its records are retried one by one so one bad record cannot fail the others;
 * each result is the stored record or the error for that record.
 */
export function prepareUsageInsert(db: DB): (batch: NewUsageRecord[]) => Array<UsageRecord | Error> {
  const insertStmt = db.prepare(
    `INSERT INTO usage (ts, kind, key_id, pipeline, model, stream_id, request_id, units, duration_ms, orchestrator,
       orchestrator_cost_wei, charge_micros, currency)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
  );
  const byRequest = db.prepare("SELECT * FROM usage WHERE request_id = ?");
  const insertOne = (u: NewUsageRecord): UsageRecord => {
    const r = insertStmt.run(
      u.ts, u.kind, u.keyId, u.pipeline, u.model, u.streamId, u.requestId, u.units, u.durationMs, u.orchestrator,
      u.orchestratorCostWei, u.chargeMicros, u.currency,
    );
    if (r.changes === 1) {
      return {
        id: Number(r.lastInsertRowid), ts: u.ts, kind: u.kind, keyId: u.keyId, pipeline: u.pipeline, model: u.model,
        streamId: u.streamId, requestId: u.requestId, units: u.units, durationMs: u.durationMs, orchestrator: u.orchestrator,
        orchestratorCostWei: u.orchestratorCostWei, chargeMicros: u.chargeMicros, currency: u.currency,
      };
    }
    const existing = byRequest.get(u.requestId) as UsageDbRow | undefined;
    if (!existing) throw new Error("usage insert returned no row");
    return usageFromDb(existing);
  };
  const insertAll = db.transaction((batch: NewUsageRecord[]) => batch.map(insertOne));
  const insertAlone = db.transaction(insertOne);
  return (batch) => {
    try {
      return insertAll(batch);
    } catch (err) {
      if (batch.length === 1) return [err as Error];
      return batch.map((u) => {
        try {
          return insertAlone(u);
        } catch (e) {
          return e as Error;
        }
      });
    }
  };
}

class SqliteUsageStore implements UsageStore {
  private readonly sumStmt;
  private readonly byRequestStmt;

  constructor(
    private readonly db: DB,
    private readonly ledger: UsageLedger,
  ) {
    // Reads and the sum below use the main connection; inserts go through the ledger.
    this.sumStmt = db.prepare("SELECT COALESCE(SUM(charge_micros), 0) AS total FROM usage WHERE key_id = ? AND ts >= ? AND ts < ?");
    this.byRequestStmt = db.prepare("SELECT * FROM usage WHERE request_id = ?");
  }

  async findByRequest(requestId: string): Promise<UsageRecord | undefined> {
    const r = this.byRequestStmt.get(requestId) as UsageDbRow | undefined;
    return r && usageFromDb(r);
  }

  /** Committed when it resolves; how soon it is fsynced is the ledger's setting (usage-ledger.ts). */
  insert(u: NewUsageRecord): Promise<UsageRecord> {
    return this.ledger.insert(u);
  }

  private where(q: UsageQuery): { sql: string; vals: unknown[] } {
    const where = ["ts >= ?", "ts < ?"];
    const vals: unknown[] = [q.from, q.to];
    if (q.keyId !== undefined) { where.push("key_id = ?"); vals.push(q.keyId); }
    if (q.pipeline !== undefined) { where.push("pipeline = ?"); vals.push(q.pipeline); }
    return { sql: where.join(" AND "), vals };
  }

  async list(q: UsageQuery): Promise<UsageRecord[]> {
    const { sql, vals } = this.where(q);
    const limit = Math.max(1, Math.min(q.limit ?? 10_000, 100_000));
    return (this.db.prepare(`SELECT * FROM usage WHERE ${sql} ORDER BY ts, id LIMIT ?`).all(...vals, limit) as UsageDbRow[]).map(usageFromDb);
  }

  async group(q: UsageQuery, by: UsageGroupBy): Promise<UsageGroup[]> {
    const { sql, vals } = this.where(q);
    const expr = by === "day" ? "strftime('%Y-%m-%d', ts / 1000, 'unixepoch')" : by === "pipeline" ? "pipeline" : "key_id";
    const rows = this.db.prepare(
      `SELECT ${expr} AS grp, COUNT(*) AS records, COALESCE(SUM(units), 0) AS units, COALESCE(SUM(duration_ms), 0) AS duration_ms,
              wei_sum(orchestrator_cost_wei) AS wei, COALESCE(SUM(charge_micros), 0) AS charge
         FROM usage WHERE ${sql} GROUP BY grp ORDER BY grp`,
    ).all(...vals) as { grp: string; records: number; units: number; duration_ms: number; wei: string; charge: number }[];
    return rows.map((r) => ({
      group: r.grp, records: r.records, units: r.units, durationMs: r.duration_ms, orchestratorCostWei: r.wei, chargeMicros: r.charge,
    }));
  }

  async sumCharges(keyId: string, from: number, to: number): Promise<number> {
    return (this.sumStmt.get(keyId, from, to) as { total: number }).total;
  }
}

class SqliteAuditStore implements AuditStore {
  constructor(private readonly db: DB) {}

  async append(e: NewAuditEntry): Promise<AuditEntry> {
    const r = this.db.prepare(
      "INSERT INTO audit_log (ts, actor, action, target, details, remote_ip) VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
    ).get(e.ts ?? Date.now(), e.actor, e.action, e.target, JSON.stringify(e.details ?? {}), e.remoteIp) as AuditDbRow;
    return auditFromDb(r);
  }

  async query(q: AuditQuery): Promise<AuditEntry[]> {
    const where: string[] = [];
    const vals: unknown[] = [];
    if (q.action !== undefined) {
      // "key.*" matches a family of actions.
      if (q.action.endsWith(".*")) { where.push("action LIKE ? ESCAPE '\\'"); vals.push(q.action.slice(0, -1).replace(/[%_\\]/g, "\\$&") + "%"); }
      else { where.push("action = ?"); vals.push(q.action); }
    }
    if (q.keyId !== undefined) { where.push("(actor = ? OR target = ?)"); vals.push(q.keyId, q.keyId); }
    if (q.from !== undefined) { where.push("ts >= ?"); vals.push(q.from); }
    if (q.to !== undefined) { where.push("ts < ?"); vals.push(q.to); }
    if (q.before !== undefined) { where.push("id < ?"); vals.push(q.before); }
    const limit = Math.max(1, Math.min(q.limit ?? 100, 1000));
    const sql = `SELECT * FROM audit_log ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...vals, limit) as AuditDbRow[]).map(auditFromDb);
  }
}

class SqliteMetaStore implements MetaStore {
  constructor(private readonly db: DB) {}
  async get(name: string): Promise<string | undefined> {
    return (this.db.prepare("SELECT value FROM meta WHERE name = ?").get(name) as { value: string } | undefined)?.value;
  }
  async set(name: string, value: string): Promise<void> {
    this.db.prepare("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value").run(name, value);
  }
}

export class SqliteStorage implements AccountsStorage {
  readonly db: DB;
  readonly keys: KeyStore;
  readonly streams: StreamStore;
  readonly usage: UsageStore;
  readonly audit: AuditStore;
  readonly meta: MetaStore;
  private readonly ledger: UsageLedger;

  constructor(
    readonly file: string,
    opts: UsageLedgerOptions = {},
  ) {
    const everyCommit = opts.fsyncIntervalMs === 0;
    this.db = openDatabase(file, { synchronous: everyCommit ? "FULL" : "NORMAL", autoCheckpoint: everyCommit });
    this.ledger = new UsageLedger(this.db, file, opts);
    this.keys = new SqliteKeyStore(this.db);
    this.streams = new SqliteStreamStore(this.db);
    this.usage = new SqliteUsageStore(this.db, this.ledger);
    this.audit = new SqliteAuditStore(this.db);
    this.meta = new SqliteMetaStore(this.db);
  }

  async externalChangeCounter(): Promise<number> {
    return this.db.pragma("data_version", { simple: true }) as number;
  }

  async close(): Promise<void> {
    await this.ledger.close();
    if (this.db.open) this.db.close();
  }
}
