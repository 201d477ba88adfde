// The SQLite database of the accounts service: opening it (WAL, pragmas, wei_sum) and its migrations.
import Database from "better-sqlite3";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";

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
  // 3: the expected value of the tickets actually sent to orchestrators for the record (wei),
  // next to the cost the orchestrator's price implied.
  `
  ALTER TABLE usage ADD COLUMN paid_wei TEXT NOT NULL DEFAULT '0';
  `,
  // 4: webhooks and their durable outbox (server/webhooks). The secret signs every delivery, so
  // it is stored as is (the file is 0600) and never logged.
  `
  CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,
    stream_id  TEXT,
    secret     TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    body             TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_attempt_at  INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    last_duration_ms INTEGER
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(webhook_id, next_attempt_at) WHERE state = 'pending';
  CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
  CREATE INDEX webhook_deliveries_created ON webhook_deliveries(created_at);
  `,
  // 5: playback signing keys (server/playback): the public half only; the private key is shown
  // once at creation and never stored.
  `
  CREATE TABLE signing_keys (
    id             TEXT PRIMARY KEY,
    owner_key_id   TEXT NOT NULL,
    owner_is_admin INTEGER NOT NULL DEFAULT 0,
    public_jwk     TEXT NOT NULL,
    public_pem     TEXT NOT NULL,
    created_at     INTEGER NOT NULL
  );
  CREATE INDEX signing_keys_owner ON signing_keys(owner_key_id);
  `,
  // Key changes counted by the database itself, for the watch of other processes' changes
  // (Accounts.pollExternalChanges): PRAGMA data_version moves with any other connection's commit,
  // and the usage ledger's thread commits several times a second under load.
  `
  CREATE TABLE key_change_counter (n INTEGER NOT NULL);
  INSERT INTO key_change_counter VALUES (0);
  CREATE TRIGGER api_keys_changed_insert AFTER INSERT ON api_keys BEGIN UPDATE key_change_counter SET n = n + 1; END;
  CREATE TRIGGER api_keys_changed_update AFTER UPDATE ON api_keys BEGIN UPDATE key_change_counter SET n = n + 1; END;
  CREATE TRIGGER api_keys_changed_delete AFTER DELETE ON api_keys BEGIN UPDATE key_change_counter SET n = n + 1; END;
  `,
];

export interface OpenOptions {
  /** FULL: every commit fsyncs the WAL. NORMAL: commits reach the OS, the ledger thread fsyncs (usage-ledger.ts). */
  synchronous?: "FULL" | "NORMAL";
  /** false: this connection never checkpoints by itself (the ledger thread does). */
  autoCheckpoint?: boolean;
}

/** The database holds key hashes, stream keys and the ledger: owner-only, like every file with secrets. */
const DB_FILE_MODE = 0o600;

export function openDatabase(file: string, opts: OpenOptions = {}): DB {
  mkdirSync(path.dirname(file), { recursive: true });
  // SQLite creates -wal and -shm with the main file's permissions, so the main file is made
  // 0600 before SQLite opens it; files left by an older Wharf (0644) are tightened too.
  if (!existsSync(file)) closeSync(openSync(file, "a", DB_FILE_MODE));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, DB_FILE_MODE);
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
