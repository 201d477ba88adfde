// SQLite implementation of AccountsStorage (better-sqlite3).
//
// Durability: journal_mode=WAL. A commit appends to the -wal file, so whatever has
// been committed survives a crash or SIGKILL of Wharf. When it is also safe from an
// OS crash or power loss is the usage ledger's setting (usage-ledger.ts): by default
// the main connection commits with synchronous=NORMAL and the ledger thread fsyncs
// the WAL within 100 ms of a usage record's commit (the other tables' commits within
// its 1 s backstop) and checkpoints it; `usageFsyncIntervalMs: 0` fsyncs every
// commit (synchronous=FULL) instead.
import type {
  AccountsStorage, ApiKeyRow, AuditEntry, AuditQuery, AuditStore, KeyLimitsPatch, KeyStore, MetaStore,
  NewAuditEntry, Scope, StreamRow, StreamStore, UsageStore,
} from "./types.ts";
import type { Statement } from "better-sqlite3";
import { openDatabase, type DB } from "./sqlite-schema.ts";
import { SqliteUsageStore } from "./sqlite-usage.ts";
import { UsageLedger, type UsageLedgerOptions } from "./usage-ledger.ts";

export { MIGRATIONS, migrate, openDatabase, type DB, type OpenOptions } from "./sqlite-schema.ts";
export { prepareUsageInsert } from "./usage-insert.ts";

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

function streamFromDb(r: StreamDbRow): StreamRow {
  return {
    id: r.id, name: r.name, pipeline: r.pipeline, ownerKeyId: r.owner_key_id, streamKey: r.stream_key,
    config: JSON.parse(r.config) as Record<string, unknown>, createdAt: r.created_at, deletedAt: r.deleted_at,
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

  async create(s: StreamRow): Promise<StreamRow> {
    this.db.prepare(
      "INSERT INTO streams (id, name, pipeline, owner_key_id, stream_key, config, created_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ).run(s.id, s.name, s.pipeline, s.ownerKeyId, s.streamKey, JSON.stringify(s.config), s.createdAt, s.deletedAt);
    return s;
  }

  async get(id: string): Promise<StreamRow | undefined> {
    const r = this.db.prepare("SELECT * FROM streams WHERE id = ?").get(id) as StreamDbRow | undefined;
    return r && streamFromDb(r);
  }

  async list(opts: { ownerKeyId?: string; includeDeleted?: boolean } = {}): Promise<StreamRow[]> {
    const where: string[] = [];
    const vals: unknown[] = [];
    if (opts.ownerKeyId !== undefined) { where.push("owner_key_id = ?"); vals.push(opts.ownerKeyId); }
    if (!opts.includeDeleted) where.push("deleted_at IS NULL");
    const sql = `SELECT * FROM streams ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created_at, id`;
    return (this.db.prepare(sql).all(...vals) as StreamDbRow[]).map(streamFromDb);
  }

  async delete(id: string, now: number): Promise<StreamRow | undefined> {
    const r = this.db.prepare("UPDATE streams SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL RETURNING *").get(now, id) as StreamDbRow | undefined;
    return r && streamFromDb(r);
  }

  async findByStreamKey(streamKey: string): Promise<StreamRow | undefined> {
    const r = this.db.prepare("SELECT * FROM streams WHERE stream_key = ? AND deleted_at IS NULL").get(streamKey) as StreamDbRow | undefined;
    return r && streamFromDb(r);
  }

  async update(id: string, p: Partial<Pick<StreamRow, "name" | "config" | "streamKey">>): Promise<StreamRow | undefined> {
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
  private dataVersion = -1;
  private keyChanges = -1;
  private keyChangesStmt?: Statement<[], number>;

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

  /**
   * The key change counter (a trigger counts every change of api_keys), read only when
   * PRAGMA data_version says another connection committed: that is one pragma a second when
   * nothing changed, and one row more when anything did (the usage ledger's thread commits).
   */
  async externalChangeCounter(): Promise<number> {
    const version = this.db.pragma("data_version", { simple: true }) as number;
    if (version !== this.dataVersion) {
      this.dataVersion = version;
      // Prepared once: data_version moves with every ledger commit (several a second under load).
      const stmt = (this.keyChangesStmt ??= this.db.prepare<[], number>("SELECT n FROM key_change_counter").pluck());
      this.keyChanges = stmt.get() ?? 0;
    }
    return this.keyChanges;
  }

  async close(): Promise<void> {
    await this.ledger.close();
    if (this.db.open) this.db.close();
  }
}
