// The PostgreSQL database of the accounts service (cluster mode): connecting and its ordered migrations.
import postgres from "postgres";

export type Sql = postgres.Sql<Record<string, never>>;

/**
 * Ordered migrations; index + 1 = schema version. Never edit a shipped entry — append.
 * Money in micros is BIGINT; wei is NUMERIC(78, 0) (2^256 fits) so sums stay exact.
 */
export const PG_MIGRATIONS: string[] = [
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
    scopes                 JSONB NOT NULL,
    ip_allowlist           JSONB,
    rate_limit_rpm         INTEGER,
    rate_limit_burst       INTEGER,
    max_concurrent_streams INTEGER,
    daily_cap_micros       BIGINT,
    monthly_cap_micros     BIGINT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    revoked_at             BIGINT
  );

  CREATE TABLE streams (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    pipeline     TEXT NOT NULL,
    owner_key_id TEXT NOT NULL REFERENCES api_keys(id),
    stream_key   TEXT NOT NULL UNIQUE,
    config       JSONB NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL,
    deleted_at   BIGINT
  );
  CREATE INDEX streams_owner ON streams(owner_key_id, created_at);

  CREATE TABLE usage (
    id                    BIGSERIAL PRIMARY KEY,
    ts                    BIGINT NOT NULL,
    kind                  TEXT NOT NULL CHECK (kind IN ('batch', 'stream')),
    key_id                TEXT NOT NULL,
    pipeline              TEXT NOT NULL,
    model                 TEXT,
    stream_id             TEXT,
    request_id            TEXT,
    units                 BIGINT NOT NULL DEFAULT 0,
    duration_ms           BIGINT NOT NULL DEFAULT 0,
    orchestrator          TEXT,
    orchestrator_cost_wei NUMERIC(78, 0) NOT NULL DEFAULT 0,
    paid_wei              NUMERIC(78, 0) NOT NULL DEFAULT 0,
    charge_micros         BIGINT NOT NULL,
    currency              TEXT NOT NULL
  );
  CREATE INDEX usage_key_ts ON usage(key_id, ts);
  CREATE INDEX usage_ts ON usage(ts);
  CREATE UNIQUE INDEX usage_request ON usage(request_id) WHERE request_id IS NOT NULL;

  -- What the spend check reads: one row per key and UTC day / month, updated in the usage
  -- insert's transaction, so a check never sums a month of usage rows.
  CREATE TABLE usage_rollup (
    key_id        TEXT NOT NULL,
    period        TEXT NOT NULL CHECK (period IN ('day', 'month')),
    period_start  BIGINT NOT NULL,
    charge_micros BIGINT NOT NULL,
    records       BIGINT NOT NULL,
    PRIMARY KEY (key_id, period, period_start)
  );

  CREATE TABLE audit_log (
    id        BIGSERIAL PRIMARY KEY,
    ts        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT,
    details   JSONB NOT NULL DEFAULT '{}',
    remote_ip TEXT
  );
  CREATE INDEX audit_ts ON audit_log(ts);
  CREATE INDEX audit_action ON audit_log(action, id);
  CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
  CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

  -- A number that changes whenever a key is written: the cheap change feed that
  -- Accounts.pollExternalChanges reads (the CLI and nodes without Redis see changes).
  CREATE TABLE key_change_counter (n BIGINT NOT NULL);
  INSERT INTO key_change_counter VALUES (0);
  CREATE FUNCTION key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE key_change_counter SET n = n + 1; RETURN NULL; END $$;
  CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION key_changed();
  `,
  // 2: webhooks and their durable outbox (server/webhooks/postgres-webhooks.ts), playback signing
  // keys (server/playback/postgres-signing-keys.ts) and the recordings index
  // (server/recordings/postgres-recordings.ts): what every node must see.
  `
  CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    events     JSONB NOT NULL,
    stream_id  TEXT,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  -- dedupe_key: one row per webhook and event; an event every node sees (a key revoked, a
  -- stream deleted) has a cluster-wide key, so the first node's row is the only one.
  CREATE TABLE webhook_deliveries (
    id               BIGSERIAL PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL,
    dedupe_key       TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    body             TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    leased_by        TEXT,
    last_attempt_at  BIGINT,
    last_status      INTEGER,
    last_error       TEXT,
    last_duration_ms BIGINT,
    UNIQUE (webhook_id, dedupe_key)
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(webhook_id, next_attempt_at) WHERE state = 'pending';
  CREATE INDEX webhook_deliveries_next ON webhook_deliveries(next_attempt_at) WHERE state = 'pending';
  CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
  CREATE INDEX webhook_deliveries_created ON webhook_deliveries(created_at);

  CREATE TABLE signing_keys (
    id             TEXT PRIMARY KEY,
    owner_key_id   TEXT NOT NULL,
    owner_is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    public_jwk     JSONB NOT NULL,
    public_pem     TEXT NOT NULL,
    created_at     BIGINT NOT NULL
  );
  CREATE INDEX signing_keys_owner ON signing_keys(owner_key_id);

  -- The recordings index; the media files stay on the disk of the node that recorded them (node_id).
  CREATE TABLE recordings (
    id           TEXT PRIMARY KEY,
    stream_id    TEXT NOT NULL,
    owner_key_id TEXT,
    node_id      TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    doc          JSONB NOT NULL
  );
  CREATE INDEX recordings_stream ON recordings(stream_id, started_at);
  CREATE INDEX recordings_owner ON recordings(owner_key_id, started_at);
  `,
];

/** Any number below: "the accounts schema is being migrated" (pg_advisory_xact_lock's key). */
const MIGRATION_LOCK_ID = 0x77686172; // "whar"

/**
 * Opens a pool. BIGINT columns (ms timestamps, micros, ids) come back as numbers: they stay
 * below 2^53. NUMERIC (wei) comes back as a decimal string.
 */
export function connectPostgres(url: string, opts: { max?: number } = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    connect_timeout: 5,
    types: {
      bigint: { to: 20, from: [20], serialize: (x: number | bigint | string) => String(x), parse: (x: string) => Number(x) },
    },
  }) as unknown as Sql;
}

/**
 * Brings the schema to the newest version in one transaction under an advisory lock, so
 * several nodes starting together migrate once (the others wait, then find it done).
 */
export async function migratePostgres(sql: Sql): Promise<number> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`;
    const rows = await tx<{ version: number }[]>`SELECT version FROM schema_version`;
    let version = rows[0]?.version ?? 0;
    if (!rows.length) await tx`INSERT INTO schema_version (version) VALUES (0)`;
    if (version > PG_MIGRATIONS.length) {
      throw new Error(`database schema version ${version} is newer than this Wharf (${PG_MIGRATIONS.length}); upgrade Wharf`);
    }
    for (; version < PG_MIGRATIONS.length; version++) await tx.unsafe(PG_MIGRATIONS[version]!);
    await tx`UPDATE schema_version SET version = ${version}`;
    return version;
  }) as Promise<number>;
}
