// The accounts service: API keys, stream records, limits, spend caps, usage ledger and audit log.
// Entry point: createAccounts({ dataDir }).
import { EventEmitter } from "node:events";
import path from "node:path";
import { moduleLogger } from "../../core/log.ts";
import { metrics } from "../../core/metrics.ts";
import { ensureAdminKey, type EnsureAdminKeyResult } from "./admin-key.ts";
import { AuthService, hasScope, publicKey, type AuthFailure, type AuthResult, type RequiredScope } from "./auth.ts";
import { displayPrefix, hashSecret, newApiKeySecret, newId, newStreamKey } from "./crypto.ts";
import { usageGroupsCsv, usageRecordsCsv } from "./csv.ts";
import { AccountsError, SYSTEM, type Actor } from "./errors.ts";
import { ipAllowed, parseCidr } from "./ip.ts";
import { limitsOf, validateKeyInput, type CreateKeyInput, type UpdateKeyInput } from "./key-input.ts";
import { PriceBook, type PriceBookConfig } from "./pricing.ts";
import { ConcurrencyLimiter, TokenBucketLimiter, type RateDecision, type StreamSlot } from "./ratelimit.ts";
import { SpendGuard, type SpendDecision, type SpendHoldings } from "./spend.ts";
import { SqliteStorage } from "./sqlite.ts";
import type { AccountsStorage, ApiKey, ApiKeyRow, AuditEntry, AuditQuery, StreamRow, UsageGroup, UsageGroupBy, UsageInsertOptions, UsageQuery, UsageRecord } from "./types.ts";
import { UsageRecorder, type BatchUsageInput, type StreamUsageInput } from "./usage-recording.ts";
import { UsageTally, type TalliedRun } from "./usage-tally.ts";

export { AccountsError, type Actor } from "./errors.ts";
export { validateKeyInput, type CreateKeyInput, type UpdateKeyInput } from "./key-input.ts";
export type { SpendCap, SpendDecision } from "./spend.ts";
export type { BatchUsageInput, StreamUsageInput } from "./usage-recording.ts";
export type { EnsureAdminKeyResult } from "./admin-key.ts";

const log = moduleLogger("accounts");

export interface CreateStreamInput {
  ownerKeyId: string;
  name: string;
  pipeline: string;
  config?: Record<string, unknown>;
}

export interface AccountsEvents {
  keyCreated: [key: ApiKey];
  keyRevoked: [keyId: string];
  keyLimitsChanged: [keyId: string, key: ApiKey];
  streamCreated: [stream: StreamRow];
  streamDeleted: [streamId: string, ownerKeyId: string];
  /** A spend check refused: the key is at its cap (every refusal; listeners dedupe). */
  spendCapReached: [keyId: string, decision: Extract<SpendDecision, { ok: false }>];
  /** A usage record (or refund) was committed to the ledger. */
  usageRecorded: [record: UsageRecord];
}

export interface AccountsOptions {
  /** Directory of wharf.db (and admin-key). */
  dataDir: string;
  /** Other storage (e.g. a shared database); default SQLite at <dataDir>/wharf.db. */
  storage?: AccountsStorage;
  priceBook?: Partial<PriceBookConfig>;
  /** Positive auth cache lifetime; default 30 s. */
  authCacheTtlMs?: number;
  /** How often committed usage records are fsynced (usage-ledger.ts); default 100 ms, 0 = before each acknowledgement. */
  usageFsyncIntervalMs?: number;
  /** How long single-shot runs are tallied into one usage record (usage-tally.ts); default 200 ms. */
  usageTallyWindowMs?: number;
  /** Cluster-wide limits (server/cluster); default: this process's own, in memory. */
  clusterLimits?: ClusterLimitsService;
  /** Poll for key changes made by other processes (CLI, other instances); default 1000 ms, 0 = off. */
  watchIntervalMs?: number;
  now?: () => number;
}

/** A shared store (Redis, PostgreSQL) is unreachable: 503 with this message, never an answer from diverged state. */
export class ClusterUnavailableError extends Error {
  readonly statusCode = 503;
  readonly expose = true;
}

/** Rate limits, live-stream slots and spend reservations shared by every node of a cluster. */
export interface ClusterLimitsService extends SpendHoldings {
  consume(keyId: string, limit: ApiKey["rateLimit"], cost?: number): Promise<RateDecision>;
  reset(keyId: string): void;
  acquireSlot(keyId: string, limit: number | null): Promise<StreamSlot>;
}

export class Accounts extends EventEmitter<AccountsEvents> {
  readonly storage: AccountsStorage;
  readonly auth: AuthService;
  readonly rateLimiter = new TokenBucketLimiter();
  readonly concurrency = new ConcurrencyLimiter();
  readonly priceBook: PriceBook;
  readonly dataDir: string;
  private readonly now: () => number;
  private readonly spend: SpendGuard;
  private readonly usage: UsageRecorder;
  private readonly tally: UsageTally;
  private readonly clusterLimits?: ClusterLimitsService;
  private watchTimer: NodeJS.Timeout | undefined;
  private snapshot = new Map<string, { updatedAt: number; revokedAt: number | null }>();
  private lastCounter = -1;
  private closed = false;

  constructor(opts: AccountsOptions) {
    super();
    this.dataDir = opts.dataDir;
    this.storage = opts.storage ?? new SqliteStorage(path.join(opts.dataDir, "wharf.db"), { fsyncIntervalMs: opts.usageFsyncIntervalMs });
    this.now = opts.now ?? Date.now;
    this.priceBook = new PriceBook(opts.priceBook);
    this.auth = new AuthService({ keys: this.storage.keys, audit: this.storage.audit, cacheTtlMs: opts.authCacheTtlMs, now: this.now });
    this.clusterLimits = opts.clusterLimits;
    this.spend = new SpendGuard(this.storage.usage, this.priceBook.currency, this.now, opts.clusterLimits);
    this.usage = new UsageRecorder(this.storage.usage, this.priceBook, (e) => this.audit(e), this.now);
    this.tally = new UsageTally((u) => this.recordBatchUsage(u, { background: true }), this.priceBook, this.now, opts.usageTallyWindowMs);
    // Once a second, idle or not: a key revoked from another process (the CLI) must stop
    // working here within a second; the check is one `PRAGMA data_version` when nothing changed.
    const interval = opts.watchIntervalMs ?? 1000;
    if (interval > 0) {
      void this.pollExternalChanges();
      this.watchTimer = setInterval(() => void this.pollExternalChanges(), interval);
      this.watchTimer.unref();
    }
  }

  // ------------------------------------------------------------ keys

  /** Creates a key; the secret is returned here and never again. */
  async createKey(input: CreateKeyInput, by: Actor = SYSTEM): Promise<{ key: ApiKey; secret: string }> {
    const secret = newApiKeySecret();
    const key = await this.insertKey(input, secret, by);
    return { key, secret };
  }

  /** Stores a key with the given secret (admin bootstrap uses it for configured secrets). */
  async insertKey(input: CreateKeyInput, secret: string, by: Actor, extra: Record<string, unknown> = {}): Promise<ApiKey> {
    const v = validateKeyInput(input, true);
    const t = this.now();
    const row: ApiKeyRow = {
      id: newId("key"),
      name: v.name!,
      prefix: displayPrefix(secret),
      secretHash: hashSecret(secret),
      scopes: v.scopes!,
      ipAllowlist: v.ipAllowlist ?? null,
      rateLimit: v.rateLimit ?? null,
      maxConcurrentStreams: v.maxConcurrentStreams ?? null,
      dailyCapMicros: v.dailyCapMicros ?? null,
      monthlyCapMicros: v.monthlyCapMicros ?? null,
      createdAt: t,
      updatedAt: t,
      revokedAt: null,
    };
    await this.storage.keys.insert(row);
    this.snapshot.set(row.id, { updatedAt: t, revokedAt: null });
    const key = publicKey(row);
    await this.audit({ ...by, action: "key.created", target: key.id, details: { name: key.name, scopes: key.scopes, limits: limitsOf(key), ...extra } });
    this.emit("keyCreated", key);
    return key;
  }

  async getKey(id: string): Promise<ApiKey | undefined> {
    const row = await this.storage.keys.get(id);
    return row && publicKey(row);
  }

  async listKeys(opts: { includeRevoked?: boolean } = {}): Promise<ApiKey[]> {
    return (await this.storage.keys.list(opts)).map(publicKey);
  }

  /** Changes name, scopes or limits (null clears a limit). Audited as key.limits_changed; emits keyLimitsChanged. */
  async updateKey(id: string, input: UpdateKeyInput, by: Actor = SYSTEM): Promise<ApiKey> {
    const patch = validateKeyInput(input, false);
    const before = await this.storage.keys.get(id);
    if (!before) throw new AccountsError("not_found", "id", `API key ${id} not found`);
    if (before.revokedAt !== null) throw new AccountsError("conflict", "id", `API key ${id} is revoked`);
    const row = await this.storage.keys.update(id, patch, this.now());
    if (!row) throw new AccountsError("not_found", "id", `API key ${id} not found`);
    this.snapshot.set(id, { updatedAt: row.updatedAt, revokedAt: row.revokedAt });
    this.auth.invalidate(id);
    const key = publicKey(row);
    await this.audit({
      ...by, action: "key.limits_changed", target: id,
      details: { before: { name: before.name, scopes: before.scopes, ...limitsOf(before) }, after: { name: key.name, scopes: key.scopes, ...limitsOf(key) } },
    });
    this.emit("keyLimitsChanged", id, key);
    return key;
  }

  /** Revokes a key (idempotent). Emits keyRevoked so live streams of the key can be disconnected. */
  async revokeKey(id: string, by: Actor = SYSTEM): Promise<ApiKey> {
    const before = await this.storage.keys.get(id);
    if (!before) throw new AccountsError("not_found", "id", `API key ${id} not found`);
    const row = (await this.storage.keys.revoke(id, this.now()))!;
    this.auth.invalidate(id);
    this.rateLimiter.reset(id);
    this.clusterLimits?.reset(id);
    this.snapshot.set(id, { updatedAt: row.updatedAt, revokedAt: row.revokedAt });
    if (before.revokedAt === null) {
      await this.audit({ ...by, action: "key.revoked", target: id, details: { name: row.name } });
      this.emit("keyRevoked", id);
    }
    return publicKey(row);
  }

  // ------------------------------------------------------------ auth and limits

  authenticate(secret: string | undefined | null, remoteIp: string | undefined, scope: RequiredScope): AuthResult | Promise<AuthResult> {
    return this.auth.authenticate(secret, remoteIp, scope);
  }

  /** Takes one request from the key's token bucket. */
  checkRateLimit(key: Pick<ApiKey, "id" | "rateLimit">, cost = 1): RateDecision | Promise<RateDecision> {
    if (this.clusterLimits) return this.clusterLimits.consume(key.id, key.rateLimit, cost).catch((err: Error) => {
      throw new ClusterUnavailableError(`this node cannot reach Redis for the cluster-wide rate limit (${err.message}): refusing new work; retry on another node`);
    });
    return this.rateLimiter.consume(key.id, key.rateLimit, cost);
  }

  /** Admission of one more live stream for the key. */
  acquireStreamSlot(key: Pick<ApiKey, "id" | "maxConcurrentStreams">): StreamSlot | Promise<StreamSlot> {
    if (this.clusterLimits) return this.clusterLimits.acquireSlot(key.id, key.maxConcurrentStreams);
    return this.concurrency.acquire(key.id, key.maxConcurrentStreams);
  }

  /**
   * Cost-explosion protection: would `projectedMicros` more push the key over its daily or
   * monthly cap (spend.ts)? With `reserve`, the amount is held until `release()`.
   */
  async checkSpend(key: Pick<ApiKey, "id" | "dailyCapMicros" | "monthlyCapMicros">, projectedMicros: number, opts: { reserve?: boolean } = {}): Promise<SpendDecision> {
    let decision: SpendDecision;
    try {
      decision = await this.spend.check(key, projectedMicros, opts);
    } catch (err) {
      // Cluster mode: the reservation lives in Redis and the committed spend in PostgreSQL; a node
      // that cannot reach them refuses (503) rather than guess, and never answers 500.
      if (!this.clusterLimits || err instanceof ClusterUnavailableError) throw err;
      throw new ClusterUnavailableError(`this node cannot check the spend cap (${(err as Error).message}): refusing new work; retry on another node`);
    }
    if (!decision.ok) {
      metrics.spendCapReached.inc({ cap: decision.cap });
      this.emit("spendCapReached", key.id, decision);
    }
    return decision;
  }

  // ------------------------------------------------------------ usage ledger

  /** Records a billed batch request; durable when the promise resolves (write it before replying 200). */
  async recordBatchUsage(u: BatchUsageInput, opts?: UsageInsertOptions): Promise<UsageRecord> {
    return this.recorded(await this.usage.recordBatch(u, opts));
  }

  /** Bills one answered single-shot run (usage-tally.ts); `release` (a spend reservation) is called once it is recorded. */
  tallyRun(run: TalliedRun, release?: () => void): void {
    this.tally.add(run, release);
  }

  /** Cancels a billed batch request whose result could not be delivered (usage-recording.ts). */
  async refundBatchUsage(requestId: string, reason: string): Promise<UsageRecord | undefined> {
    const rec = await this.usage.refundBatch(requestId, reason);
    return rec && this.recorded(rec);
  }

  /** Brings a billed batch request to the units its answer used (a streamed LLM answer, once it ended; usage-recording.ts). */
  async settleBatchUsage(requestId: string, final: { units: number; orchestratorCostWei: string | bigint }): Promise<UsageRecord | undefined> {
    const rec = await this.usage.settleBatch(requestId, final);
    return rec && this.recorded(rec);
  }

  /** Records one interval (typically a minute) of a live or transcode stream. */
  async recordStreamUsage(u: StreamUsageInput): Promise<UsageRecord> {
    return this.recorded(await this.usage.recordStream(u));
  }

  private recorded(rec: UsageRecord): UsageRecord {
    this.emit("usageRecorded", rec);
    return rec;
  }

  listUsage(q: UsageQuery): Promise<UsageRecord[]> {
    return this.storage.usage.list(q);
  }

  groupUsage(q: UsageQuery, by: UsageGroupBy): Promise<UsageGroup[]> {
    return this.storage.usage.group(q, by);
  }

  /** CSV of the records, or of the groups when `by` is given. */
  async usageCsv(q: UsageQuery, by?: UsageGroupBy): Promise<string> {
    if (by) return usageGroupsCsv(await this.groupUsage(q, by), by, this.priceBook.currency);
    return usageRecordsCsv(await this.listUsage(q));
  }

  // ------------------------------------------------------------ audit

  async audit(e: Actor & { action: string; target?: string | null; details?: Record<string, unknown> }): Promise<AuditEntry> {
    return this.storage.audit.append({
      ts: this.now(), actor: e.actor, action: e.action, target: e.target ?? null, details: e.details ?? {}, remoteIp: e.remoteIp ?? null,
    });
  }

  async queryAudit(q: AuditQuery): Promise<AuditEntry[]> {
    await this.auth.settled();
    return this.storage.audit.query(q);
  }

  // ------------------------------------------------------------ streams

  /** Creates a durable stream record with a fresh stream key (shown to the owner on GET). */
  async createStream(input: CreateStreamInput, by: Actor = SYSTEM): Promise<StreamRow> {
    if (typeof input.name !== "string" || input.name.length < 1 || input.name.length > 200) throw new AccountsError("invalid_request", "name", "name must be 1-200 characters");
    if (typeof input.pipeline !== "string" || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(input.pipeline)) throw new AccountsError("invalid_request", "pipeline", "pipeline must be a lower-case pipeline name");
    const owner = await this.storage.keys.get(input.ownerKeyId);
    if (!owner || owner.revokedAt !== null) throw new AccountsError("invalid_request", "ownerKeyId", `API key ${input.ownerKeyId} does not exist or is revoked`);
    const rec = await this.storage.streams.create({
      id: newId("str"), name: input.name, pipeline: input.pipeline, ownerKeyId: input.ownerKeyId, streamKey: newStreamKey(),
      config: input.config ?? {}, createdAt: this.now(), deletedAt: null,
    });
    await this.audit({ ...by, action: "stream.created", target: rec.id, details: { name: rec.name, pipeline: rec.pipeline, owner: rec.ownerKeyId } });
    this.emit("streamCreated", rec);
    return rec;
  }

  getStream(id: string): Promise<StreamRow | undefined> {
    return this.storage.streams.get(id);
  }

  listStreams(opts: { ownerKeyId?: string; includeDeleted?: boolean } = {}): Promise<StreamRow[]> {
    return this.storage.streams.list(opts);
  }

  findStreamByKey(streamKey: string): Promise<StreamRow | undefined> {
    return this.storage.streams.findByStreamKey(streamKey);
  }

  /**
   * Admission of a publisher presenting a stream key (RTMP/WHIP ingest): the stream
   * must exist, and its owner key must be active, have the "streams" scope and allow
   * the address. Failures are audited like API-key failures. Concurrency is separate
   * (acquireStreamSlot).
   */
  async authenticateStreamKey(streamKey: string | undefined | null, remoteIp: string | undefined): Promise<{ ok: true; stream: StreamRow; key: ApiKey } | AuthFailure> {
    const stream = streamKey ? await this.storage.streams.findByStreamKey(streamKey) : undefined;
    if (!stream) return this.auth.reject(remoteIp, { status: 401, error: "unauthorized", reason: streamKey ? "unknown" : "missing", message: "invalid stream key" });
    const row = await this.storage.keys.get(stream.ownerKeyId);
    if (!row || row.revokedAt !== null) {
      return this.auth.reject(remoteIp, { status: 401, error: "unauthorized", reason: "revoked", message: "the API key owning this stream has been revoked", keyId: stream.ownerKeyId });
    }
    if (row.ipAllowlist && !ipAllowed(remoteIp, row.ipAllowlist.map(parseCidr))) {
      return this.auth.reject(remoteIp, { status: 403, error: "forbidden", reason: "ip", message: `address ${remoteIp ?? "(unknown)"} is not in the owner key's IP allowlist`, keyId: row.id });
    }
    if (!hasScope(row, "streams")) {
      return this.auth.reject(remoteIp, { status: 403, error: "forbidden", reason: "scope", message: 'the API key owning this stream lacks the "streams" scope', keyId: row.id });
    }
    return { ok: true, stream, key: publicKey(row) };
  }

  async updateStream(id: string, patch: { name?: string; config?: Record<string, unknown> }, by: Actor = SYSTEM): Promise<StreamRow> {
    const rec = await this.storage.streams.update(id, patch);
    if (!rec) throw new AccountsError("not_found", "id", `stream ${id} not found`);
    await this.audit({ ...by, action: "stream.updated", target: id, details: { fields: Object.keys(patch) } });
    return rec;
  }

  /** New stream key; the old one stops working at once (the hub should kick a live publisher). */
  async rotateStreamKey(id: string, by: Actor = SYSTEM): Promise<StreamRow> {
    const rec = await this.storage.streams.update(id, { streamKey: newStreamKey() });
    if (!rec) throw new AccountsError("not_found", "id", `stream ${id} not found`);
    await this.audit({ ...by, action: "stream.key_rotated", target: id });
    return rec;
  }

  async deleteStream(id: string, by: Actor = SYSTEM): Promise<StreamRow> {
    const rec = await this.storage.streams.delete(id, this.now());
    if (!rec) throw new AccountsError("not_found", "id", `stream ${id} not found`);
    await this.audit({ ...by, action: "stream.deleted", target: id, details: { owner: rec.ownerKeyId } });
    this.emit("streamDeleted", id, rec.ownerKeyId);
    return rec;
  }

  // ------------------------------------------------------------ first start

  /** Makes sure an admin key exists (admin-key.ts). */
  ensureAdminKey(adminSecret?: string): Promise<EnsureAdminKeyResult> {
    return ensureAdminKey(this, adminSecret);
  }

  // ------------------------------------------------------------ multi-process

  /** True while a change made on another node is being emitted here (so it is not relayed back). */
  applyingRemote = false;

  /** A change another node made (server/cluster relays them): drops caches and emits the event here. */
  async applyRemoteChange(c: { type: "keyRevoked" | "keyChanged"; keyId: string } | { type: "streamDeleted"; streamId: string; ownerKeyId: string }): Promise<void> {
    const key = c.type === "streamDeleted" ? undefined : await this.getKey(c.keyId);
    this.applyingRemote = true;
    try {
      if (c.type === "streamDeleted") this.emit("streamDeleted", c.streamId, c.ownerKeyId);
      else {
        this.auth.invalidate(c.keyId);
        if (key) this.snapshot.set(c.keyId, { updatedAt: key.updatedAt, revokedAt: key.revokedAt });
        if (c.type === "keyRevoked") this.emit("keyRevoked", c.keyId);
        else if (key) this.emit("keyLimitsChanged", c.keyId, key);
      }
    } finally {
      this.applyingRemote = false;
    }
  }

  /** Picks up key changes committed by other processes (CLI, other gateway instances) and emits events for them. */
  async pollExternalChanges(): Promise<void> {
    if (this.closed) return;
    try {
      const counter = await this.storage.externalChangeCounter();
      if (counter === this.lastCounter) return;
      const first = this.lastCounter === -1;
      this.lastCounter = counter;
      const versions = await this.storage.keys.versions();
      const previous = this.snapshot;
      this.snapshot = versions;
      if (first && previous.size === 0) return;
      for (const [id, v] of versions) {
        const old = previous.get(id);
        if (!old || old.updatedAt === v.updatedAt) continue;
        this.auth.invalidate(id);
        if (v.revokedAt !== null && old.revokedAt === null) {
          this.rateLimiter.reset(id);
          this.emit("keyRevoked", id);
        } else {
          const key = await this.getKey(id);
          if (key) this.emit("keyLimitsChanged", id, key);
        }
      }
    } catch (err) {
      if (!this.closed) log.error({ err }, "polling for key changes failed");
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.watchTimer) clearInterval(this.watchTimer);
    await this.auth.flush();
    await this.tally.flush();
    this.closed = true;
    await this.storage.close();
    this.removeAllListeners();
  }
}

export function createAccounts(opts: AccountsOptions): Accounts {
  return new Accounts(opts);
}
