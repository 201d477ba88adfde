// PostgreSQL implementation of AccountsStorage (cluster mode, the `postgres` driver): keys, streams, audit, meta.
//
// Every write is a committed transaction (synchronous_commit as the server is configured, on
// by default: fsynced) before its promise resolves, like the SQLite storage in every-commit mode.
import type postgres from "postgres";
import type {
  AccountsStorage, ApiKeyRow, AuditEntry, AuditQuery, AuditStore, KeyLimitsPatch, KeyStore, MetaStore,
  NewAuditEntry, Scope, StreamRow, StreamStore, UsageStore,
} from "./types.ts";
import { connectPostgres, migratePostgres, type Sql } from "./postgres-schema.ts";
import { PostgresUsageStore } from "./postgres-usage.ts";

export { PG_MIGRATIONS, connectPostgres, migratePostgres, type Sql } from "./postgres-schema.ts";

interface KeyDbRow {
  id: string; name: string; prefix: string; secret_hash: string; scopes: Scope[]; ip_allowlist: string[] | null;
  rate_limit_rpm: number | null; rate_limit_burst: number | null; max_concurrent_streams: number | null;
  daily_cap_micros: number | null; monthly_cap_micros: number | null;
  created_at: number; updated_at: number; revoked_at: number | null;
}

function keyFromDb(r: KeyDbRow): ApiKeyRow {
  return {
    id: r.id, name: r.name, prefix: r.prefix, secretHash: r.secret_hash, scopes: r.scopes, ipAllowlist: r.ip_allowlist,
    rateLimit: r.rate_limit_rpm === null ? null : { requestsPerMinute: r.rate_limit_rpm, burst: r.rate_limit_burst ?? r.rate_limit_rpm },
    maxConcurrentStreams: r.max_concurrent_streams, dailyCapMicros: r.daily_cap_micros, monthlyCapMicros: r.monthly_cap_micros,
    createdAt: r.created_at, updatedAt: r.updated_at, revokedAt: r.revoked_at,
  };
}

interface StreamDbRow {
  id: string; name: string; pipeline: string; owner_key_id: string; stream_key: string; config: Record<string, unknown>;
  created_at: number; deleted_at: number | null;
}

function streamFromDb(r: StreamDbRow): StreamRow {
  return {
    id: r.id, name: r.name, pipeline: r.pipeline, ownerKeyId: r.owner_key_id, streamKey: r.stream_key,
    config: r.config, createdAt: r.created_at, deletedAt: r.deleted_at,
  };
}

interface AuditDbRow {
  id: number; ts: number; actor: string; action: string; target: string | null; details: Record<string, unknown>; remote_ip: string | null;
}

function auditFromDb(r: AuditDbRow): AuditEntry {
  return { id: r.id, ts: r.ts, actor: r.actor, action: r.action, target: r.target, details: r.details, remoteIp: r.remote_ip };
}

/**
 * A JSONB parameter. Through sql.json: postgres 3.4 would otherwise send a JS array as a
 * PostgreSQL array, and JSON.stringify a string that is already JSON (a jsonb string scalar).
 */
function jsonb(sql: Sql, v: unknown): JsonParam {
  return (v === null || v === undefined ? null : sql.json(v as postgres.JSONValue)) as JsonParam;
}
/** Typed as a string only to satisfy the driver's overloads: the value is the driver's JSON parameter, serialized by it. */
type JsonParam = string | null;

/** `$n` placeholders for a statement built from optional conditions. */
class Params {
  readonly values: Array<string | number | null> = [];
  add(v: string | number | null): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

class PostgresKeyStore implements KeyStore {
  constructor(private readonly sql: Sql) {}

  async insert(k: ApiKeyRow): Promise<void> {
    await this.sql`
      INSERT INTO api_keys (id, name, prefix, secret_hash, scopes, ip_allowlist, rate_limit_rpm, rate_limit_burst,
        max_concurrent_streams, daily_cap_micros, monthly_cap_micros, created_at, updated_at, revoked_at)
      VALUES (${k.id}, ${k.name}, ${k.prefix}, ${k.secretHash}, ${jsonb(this.sql, k.scopes)}, ${jsonb(this.sql, k.ipAllowlist)},
        ${k.rateLimit?.requestsPerMinute ?? null}, ${k.rateLimit?.burst ?? null}, ${k.maxConcurrentStreams}, ${k.dailyCapMicros},
        ${k.monthlyCapMicros}, ${k.createdAt}, ${k.updatedAt}, ${k.revokedAt})`;
  }

  async get(id: string): Promise<ApiKeyRow | undefined> {
    const [r] = await this.sql<KeyDbRow[]>`SELECT * FROM api_keys WHERE id = ${id}`;
    return r && keyFromDb(r);
  }

  async getByHash(hash: string): Promise<ApiKeyRow | undefined> {
    const [r] = await this.sql<KeyDbRow[]>`SELECT * FROM api_keys WHERE secret_hash = ${hash}`;
    return r && keyFromDb(r);
  }

  async list(opts: { includeRevoked?: boolean } = {}): Promise<ApiKeyRow[]> {
    const rows = opts.includeRevoked
      ? await this.sql<KeyDbRow[]>`SELECT * FROM api_keys ORDER BY created_at, id`
      : await this.sql<KeyDbRow[]>`SELECT * FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at, id`;
    return rows.map(keyFromDb);
  }

  async update(id: string, p: KeyLimitsPatch, now: number): Promise<ApiKeyRow | undefined> {
    const params = new Params();
    const sets: string[] = [];
    const set = (col: string, v: string | number | null) => sets.push(`${col} = ${params.add(v)}`);
    if (p.name !== undefined) set("name", p.name);
    if (p.scopes !== undefined) set("scopes", jsonb(this.sql, p.scopes));
    if (p.ipAllowlist !== undefined) set("ip_allowlist", jsonb(this.sql, p.ipAllowlist));
    if (p.rateLimit !== undefined) {
      set("rate_limit_rpm", p.rateLimit?.requestsPerMinute ?? null);
      set("rate_limit_burst", p.rateLimit?.burst ?? null);
    }
    if (p.maxConcurrentStreams !== undefined) set("max_concurrent_streams", p.maxConcurrentStreams);
    if (p.dailyCapMicros !== undefined) set("daily_cap_micros", p.dailyCapMicros);
    if (p.monthlyCapMicros !== undefined) set("monthly_cap_micros", p.monthlyCapMicros);
    set("updated_at", now);
    const [r] = await this.sql.unsafe<KeyDbRow[]>(`UPDATE api_keys SET ${sets.join(", ")} WHERE id = ${params.add(id)} RETURNING *`, params.values);
    return r && keyFromDb(r);
  }

  async revoke(id: string, now: number): Promise<ApiKeyRow | undefined> {
    const [r] = await this.sql<KeyDbRow[]>`
      UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ${now}),
        updated_at = CASE WHEN revoked_at IS NULL THEN ${now} ELSE updated_at END
      WHERE id = ${id} RETURNING *`;
    return r && keyFromDb(r);
  }

  async versions(): Promise<Map<string, { updatedAt: number; revokedAt: number | null }>> {
    const rows = await this.sql<{ id: string; updated_at: number; revoked_at: number | null }[]>`SELECT id, updated_at, revoked_at FROM api_keys`;
    return new Map(rows.map((r) => [r.id, { updatedAt: r.updated_at, revokedAt: r.revoked_at }]));
  }
}

class PostgresStreamStore implements StreamStore {
  constructor(private readonly sql: Sql) {}

  async create(s: StreamRow): Promise<StreamRow> {
    await this.sql`
      INSERT INTO streams (id, name, pipeline, owner_key_id, stream_key, config, created_at, deleted_at)
      VALUES (${s.id}, ${s.name}, ${s.pipeline}, ${s.ownerKeyId}, ${s.streamKey}, ${jsonb(this.sql, s.config)}, ${s.createdAt}, ${s.deletedAt})`;
    return s;
  }

  async get(id: string): Promise<StreamRow | undefined> {
    const [r] = await this.sql<StreamDbRow[]>`SELECT * FROM streams WHERE id = ${id}`;
    return r && streamFromDb(r);
  }

  async list(opts: { ownerKeyId?: string; includeDeleted?: boolean } = {}): Promise<StreamRow[]> {
    const params = new Params();
    const where: string[] = [];
    if (opts.ownerKeyId !== undefined) where.push(`owner_key_id = ${params.add(opts.ownerKeyId)}`);
    if (!opts.includeDeleted) where.push("deleted_at IS NULL");
    const rows = await this.sql.unsafe<StreamDbRow[]>(
      `SELECT * FROM streams ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created_at, id`, params.values,
    );
    return rows.map(streamFromDb);
  }

  async delete(id: string, now: number): Promise<StreamRow | undefined> {
    const [r] = await this.sql<StreamDbRow[]>`UPDATE streams SET deleted_at = ${now} WHERE id = ${id} AND deleted_at IS NULL RETURNING *`;
    return r && streamFromDb(r);
  }

  async findByStreamKey(streamKey: string): Promise<StreamRow | undefined> {
    const [r] = await this.sql<StreamDbRow[]>`SELECT * FROM streams WHERE stream_key = ${streamKey} AND deleted_at IS NULL`;
    return r && streamFromDb(r);
  }

  async update(id: string, p: Partial<Pick<StreamRow, "name" | "config" | "streamKey">>): Promise<StreamRow | undefined> {
    const params = new Params();
    const sets: string[] = [];
    if (p.name !== undefined) sets.push(`name = ${params.add(p.name)}`);
    if (p.config !== undefined) sets.push(`config = ${params.add(jsonb(this.sql, p.config))}`);
    if (p.streamKey !== undefined) sets.push(`stream_key = ${params.add(p.streamKey)}`);
    if (!sets.length) return this.get(id);
    const [r] = await this.sql.unsafe<StreamDbRow[]>(
      `UPDATE streams SET ${sets.join(", ")} WHERE id = ${params.add(id)} AND deleted_at IS NULL RETURNING *`, params.values,
    );
    return r && streamFromDb(r);
  }
}

class PostgresAuditStore implements AuditStore {
  constructor(private readonly sql: Sql) {}

  async append(e: NewAuditEntry): Promise<AuditEntry> {
    const [r] = await this.sql<AuditDbRow[]>`
      INSERT INTO audit_log (ts, actor, action, target, details, remote_ip)
      VALUES (${e.ts ?? Date.now()}, ${e.actor}, ${e.action}, ${e.target}, ${jsonb(this.sql, e.details ?? {})}, ${e.remoteIp})
      RETURNING *`;
    return auditFromDb(r!);
  }

  async query(q: AuditQuery): Promise<AuditEntry[]> {
    const params = new Params();
    const where: string[] = [];
    if (q.action !== undefined) {
      // "key.*" matches a family of actions.
      if (q.action.endsWith(".*")) where.push(`action LIKE ${params.add(q.action.slice(0, -1).replace(/[%_\\]/g, "\\$&") + "%")} ESCAPE '\\'`);
      else where.push(`action = ${params.add(q.action)}`);
    }
    if (q.keyId !== undefined) {
      const k = params.add(q.keyId);
      where.push(`(actor = ${k} OR target = ${k})`);
    }
    if (q.from !== undefined) where.push(`ts >= ${params.add(q.from)}`);
    if (q.to !== undefined) where.push(`ts < ${params.add(q.to)}`);
    if (q.before !== undefined) where.push(`id < ${params.add(q.before)}`);
    const limit = Math.max(1, Math.min(q.limit ?? 100, 1000));
    const rows = await this.sql.unsafe<AuditDbRow[]>(
      `SELECT * FROM audit_log ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY id DESC LIMIT ${params.add(limit)}`, params.values,
    );
    return rows.map(auditFromDb);
  }
}

class PostgresMetaStore implements MetaStore {
  constructor(private readonly sql: Sql) {}
  async get(name: string): Promise<string | undefined> {
    const [r] = await this.sql<{ value: string }[]>`SELECT value FROM meta WHERE name = ${name}`;
    return r?.value;
  }
  async set(name: string, value: string): Promise<void> {
    await this.sql`INSERT INTO meta (name, value) VALUES (${name}, ${value}) ON CONFLICT (name) DO UPDATE SET value = excluded.value`;
  }
}

export class PostgresStorage implements AccountsStorage {
  readonly keys: KeyStore;
  readonly streams: StreamStore;
  readonly usage: UsageStore;
  readonly audit: AuditStore;
  readonly meta: MetaStore;

  private constructor(readonly sql: Sql) {
    this.keys = new PostgresKeyStore(sql);
    this.streams = new PostgresStreamStore(sql);
    this.usage = new PostgresUsageStore(sql);
    this.audit = new PostgresAuditStore(sql);
    this.meta = new PostgresMetaStore(sql);
  }

  /** Connects and migrates (several nodes may do this at once: migratePostgres takes a lock). */
  static async open(url: string, opts: { max?: number } = {}): Promise<PostgresStorage> {
    const sql = connectPostgres(url, opts);
    try {
      await migratePostgres(sql);
    } catch (err) {
      await sql.end({ timeout: 1 });
      throw err;
    }
    return new PostgresStorage(sql);
  }

  /** Answers when the database does (readiness). */
  async ping(): Promise<void> {
    await this.sql`SELECT 1`;
  }

  async externalChangeCounter(): Promise<number> {
    const [r] = await this.sql<{ n: number }[]>`SELECT n FROM key_change_counter`;
    return r!.n;
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
