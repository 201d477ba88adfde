// The accounts service: API keys, stream records, limits, spend caps, usage ledger and audit log.
// Entry point: createAccounts({ dataDir }).
import { EventEmitter } from "node:events";
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import { AuthService, hasScope, publicKey, type AuthFailure, type AuthResult, type RequiredScope } from "./auth.ts";
import { displayPrefix, hashSecret, newApiKeySecret, newId, newStreamKey } from "./crypto.ts";
import { usageGroupsCsv, usageRecordsCsv } from "./csv.ts";
import { canonicalCidr, ipAllowed, parseCidr } from "./ip.ts";
import { PriceBook, parseWei, utcDayStart, utcMonthStart, type PriceBookConfig } from "./pricing.ts";
import { ConcurrencyLimiter, TokenBucketLimiter, defaultBurst, type RateDecision, type StreamSlot } from "./ratelimit.ts";
import { SqliteStorage } from "./sqlite.ts";
import {
  SCOPES, type AccountsStorage, type ApiKey, type ApiKeyRow, type AuditEntry, type AuditQuery, type KeyLimitsPatch,
  type Scope, type StreamRecord, type UsageGroup, type UsageGroupBy, type UsageQuery, type UsageRecord,
} from "./types.ts";
import { moduleLogger } from "../../core/log.ts";

const log = moduleLogger("accounts");

/** Thrown for invalid input; `field` names the offending field (routes turn it into a 400). */
export class AccountsError extends Error {
  constructor(readonly code: "invalid_request" | "not_found" | "conflict", readonly field: string | undefined, message: string) {
    super(message);
    this.name = "AccountsError";
  }
}

/** Who did it, for the audit log. */
export interface Actor {
  /** Key id, or "system" (CLI, start-up). */
  actor: string;
  remoteIp?: string | null;
}

const SYSTEM: Actor = { actor: "system" };

export interface CreateKeyInput {
  name: string;
  scopes: Scope[];
  ipAllowlist?: string[] | null;
  /** burst defaults to ten seconds' worth (rpm / 6). */
  rateLimit?: { requestsPerMinute: number; burst?: number } | null;
  maxConcurrentStreams?: number | null;
  dailyCapMicros?: number | null;
  monthlyCapMicros?: number | null;
}

export type UpdateKeyInput = Partial<CreateKeyInput>;

export interface CreateStreamInput {
  ownerKeyId: string;
  name: string;
  pipeline: string;
  config?: Record<string, unknown>;
}

export interface BatchUsageInput {
  keyId: string;
  pipeline: string;
  model?: string | null;
  units: number;
  orchestrator?: string | null;
  orchestratorCostWei?: string | bigint;
  requestId?: string | null;
  /** Overrides the price book. */
  chargeMicros?: number;
  ts?: number;
}

export interface StreamUsageInput {
  keyId: string;
  streamId: string;
  pipeline: string;
  durationSeconds: number;
  /** Output pixels in this interval. */
  pixels: number;
  orchestrator?: string | null;
  orchestratorCostWei?: string | bigint;
  /** E.g. `${streamId}:${minuteIndex}`; makes the write idempotent. */
  requestId?: string | null;
  chargeMicros?: number;
  ts?: number;
}

export type SpendCap = "daily" | "monthly";

export type SpendDecision =
  | {
      ok: true;
      spentTodayMicros: number;
      spentThisMonthMicros: number;
      /** null = no cap. */
      remainingDailyMicros: number | null;
      remainingMonthlyMicros: number | null;
      /** With reserve: call once the usage is recorded (or the request failed). Otherwise a no-op. */
      release: () => void;
    }
  | {
      ok: false;
      /** The cap to report (monthly wins when both would be exceeded: it resets later). */
      cap: SpendCap;
      exceeded: SpendCap[];
      capMicros: number;
      spentMicros: number;
      projectedMicros: number;
      /** When the reported cap resets (ms). */
      resetsAt: number;
      message: string;
    };

export interface EnsureAdminKeyResult {
  key: ApiKey;
  /** The secret, when it is known to this process: just generated, or re-read from <dataDir>/admin-key. Never set for WHARF_ADMIN_KEY. */
  secret?: string;
  source: "config" | "generated" | "file" | "unavailable";
  created: boolean;
  /** Path of the admin-key file (generated keys only). */
  file?: string;
}

export interface AccountsEvents {
  keyCreated: [key: ApiKey];
  keyRevoked: [keyId: string];
  keyLimitsChanged: [keyId: string, key: ApiKey];
  streamCreated: [stream: StreamRecord];
  streamDeleted: [streamId: string, ownerKeyId: string];
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
  /** Poll for key changes made by other processes (CLI, other instances); default 1000 ms, 0 = off. */
  watchIntervalMs?: number;
  now?: () => number;
}

const ADMIN_FILE = "admin-key";
const META_ADMIN_KEY_ID = "bootstrap_admin_key_id";

export class Accounts extends EventEmitter<AccountsEvents> {
  readonly storage: AccountsStorage;
  readonly auth: AuthService;
  readonly rateLimiter = new TokenBucketLimiter();
  readonly concurrency = new ConcurrencyLimiter();
  readonly priceBook: PriceBook;
  readonly dataDir: string;
  private readonly now: () => number;
  private readonly reservations = new Map<string, number>();
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

  private async insertKey(input: CreateKeyInput, secret: string, by: Actor, extra: Record<string, unknown> = {}): Promise<ApiKey> {
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
    this.snapshot.set(id, { updatedAt: row.updatedAt, revokedAt: row.revokedAt });
    if (before.revokedAt === null) {
      await this.audit({ ...by, action: "key.revoked", target: id, details: { name: row.name } });
      this.emit("keyRevoked", id);
    }
    return publicKey(row);
  }

  // ------------------------------------------------------------ auth and limits

  authenticate(secret: string | undefined | null, remoteIp: string | undefined, scope: RequiredScope): Promise<AuthResult> {
    return this.auth.authenticate(secret, remoteIp, scope);
  }

  /** Takes one request from the key's token bucket. */
  checkRateLimit(key: Pick<ApiKey, "id" | "rateLimit">, cost = 1): RateDecision {
    return this.rateLimiter.consume(key.id, key.rateLimit, cost);
  }

  /** Admission of one more live stream for the key. */
  acquireStreamSlot(key: Pick<ApiKey, "id" | "maxConcurrentStreams">): StreamSlot {
    return this.concurrency.acquire(key.id, key.maxConcurrentStreams);
  }

  /**
   * Cost-explosion protection: would `projectedMicros` more push the key over its
   * daily (since 00:00 UTC) or monthly (since the 1st, 00:00 UTC) cap? Charged
   * usage plus in-flight reservations of this process count as spent. With
   * `reserve`, the projected amount is held until `release()`.
   */
  async checkSpend(key: Pick<ApiKey, "id" | "dailyCapMicros" | "monthlyCapMicros">, projectedMicros: number, opts: { reserve?: boolean } = {}): Promise<SpendDecision> {
    const t = this.now();
    const dayStart = utcDayStart(t);
    const monthStart = utcMonthStart(t);
    const pending = this.reservations.get(key.id) ?? 0;
    const [day, month] = await Promise.all([
      key.dailyCapMicros === null ? Promise.resolve(0) : this.storage.usage.sumCharges(key.id, dayStart, Number.MAX_SAFE_INTEGER),
      key.monthlyCapMicros === null ? Promise.resolve(0) : this.storage.usage.sumCharges(key.id, monthStart, Number.MAX_SAFE_INTEGER),
    ]);
    const spentDay = day + pending;
    const spentMonth = month + pending;
    const exceeded: SpendCap[] = [];
    if (key.monthlyCapMicros !== null && spentMonth + projectedMicros > key.monthlyCapMicros) exceeded.push("monthly");
    if (key.dailyCapMicros !== null && spentDay + projectedMicros > key.dailyCapMicros) exceeded.push("daily");
    if (exceeded.length) {
      const cap = exceeded[0]!;
      const d = new Date(t);
      const resetsAt = cap === "monthly" ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) : dayStart + 86_400_000;
      const capMicros = cap === "monthly" ? key.monthlyCapMicros! : key.dailyCapMicros!;
      const spentMicros = cap === "monthly" ? spentMonth : spentDay;
      return {
        ok: false, cap, exceeded, capMicros, spentMicros, projectedMicros, resetsAt,
        message: `${cap} spend cap of ${fmt(capMicros)} ${this.priceBook.currency} would be exceeded (spent ${fmt(spentMicros)}, this request ~${fmt(projectedMicros)}); resets ${new Date(resetsAt).toISOString()}`,
      };
    }
    let release = () => {};
    if (opts.reserve && projectedMicros > 0) {
      this.reservations.set(key.id, pending + projectedMicros);
      let done = false;
      release = () => {
        if (done) return;
        done = true;
        const left = (this.reservations.get(key.id) ?? 0) - projectedMicros;
        if (left <= 0) this.reservations.delete(key.id);
        else this.reservations.set(key.id, left);
      };
    }
    return {
      ok: true,
      spentTodayMicros: spentDay,
      spentThisMonthMicros: spentMonth,
      remainingDailyMicros: key.dailyCapMicros === null ? null : key.dailyCapMicros - spentDay - projectedMicros,
      remainingMonthlyMicros: key.monthlyCapMicros === null ? null : key.monthlyCapMicros - spentMonth - projectedMicros,
      release,
    };
  }

  // ------------------------------------------------------------ usage ledger

  /** Records a billed batch request; durable when the promise resolves (write it before replying 200). */
  async recordBatchUsage(u: BatchUsageInput): Promise<UsageRecord> {
    const wei = parseWei(u.orchestratorCostWei);
    requireNonNegative(u.units, "units");
    return this.storage.usage.insert({
      ts: u.ts ?? this.now(),
      kind: "batch",
      keyId: u.keyId,
      pipeline: u.pipeline,
      model: u.model ?? null,
      streamId: null,
      requestId: u.requestId ?? null,
      units: Math.round(u.units),
      durationMs: 0,
      orchestrator: u.orchestrator ?? null,
      orchestratorCostWei: wei.toString(),
      chargeMicros: u.chargeMicros ?? this.priceBook.charge({ pipeline: u.pipeline, units: u.units, orchestratorCostWei: wei }),
      currency: this.priceBook.currency,
    });
  }

  /**
   * Cancels a billed batch request whose result could not be delivered: appends a record
   * with the negated units, cost and charge (request id `<requestId>:refund`), so totals,
   * spend caps and exports net it out. Idempotent; undefined when there is nothing to refund.
   */
  async refundBatchUsage(requestId: string, reason: string): Promise<UsageRecord | undefined> {
    const orig = await this.storage.usage.findByRequest(requestId);
    if (!orig || orig.kind !== "batch") return undefined;
    const refundId = `${requestId}:refund`;
    const existing = await this.storage.usage.findByRequest(refundId);
    if (existing) return existing;
    const rec = await this.storage.usage.insert({
      ...orig,
      ts: this.now(),
      requestId: refundId,
      units: -orig.units,
      orchestratorCostWei: (-BigInt(orig.orchestratorCostWei)).toString(),
      chargeMicros: -orig.chargeMicros,
    });
    await this.audit({ actor: "system", action: "usage.refund", target: orig.keyId, details: { requestId, reason, chargeMicros: orig.chargeMicros } });
    return rec;
  }

  /** Records one interval (typically a minute) of a live or transcode stream. */
  async recordStreamUsage(u: StreamUsageInput): Promise<UsageRecord> {
    const wei = parseWei(u.orchestratorCostWei);
    requireNonNegative(u.durationSeconds, "durationSeconds");
    requireNonNegative(u.pixels, "pixels");
    const durationMs = Math.round(u.durationSeconds * 1000);
    return this.storage.usage.insert({
      ts: u.ts ?? this.now(),
      kind: "stream",
      keyId: u.keyId,
      pipeline: u.pipeline,
      model: null,
      streamId: u.streamId,
      requestId: u.requestId ?? null,
      units: Math.round(u.pixels),
      durationMs,
      orchestrator: u.orchestrator ?? null,
      orchestratorCostWei: wei.toString(),
      chargeMicros: u.chargeMicros ?? this.priceBook.charge({ pipeline: u.pipeline, units: u.pixels, durationMs, orchestratorCostWei: wei }),
      currency: this.priceBook.currency,
    });
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

  queryAudit(q: AuditQuery): Promise<AuditEntry[]> {
    return this.storage.audit.query(q);
  }

  // ------------------------------------------------------------ streams

  /** Creates a durable stream record with a fresh stream key (shown to the owner on GET). */
  async createStream(input: CreateStreamInput, by: Actor = SYSTEM): Promise<StreamRecord> {
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

  getStream(id: string): Promise<StreamRecord | undefined> {
    return this.storage.streams.get(id);
  }

  listStreams(opts: { ownerKeyId?: string; includeDeleted?: boolean } = {}): Promise<StreamRecord[]> {
    return this.storage.streams.list(opts);
  }

  findStreamByKey(streamKey: string): Promise<StreamRecord | undefined> {
    return this.storage.streams.findByStreamKey(streamKey);
  }

  /**
   * Admission of a publisher presenting a stream key (RTMP/WHIP ingest): the stream
   * must exist, and its owner key must be active, have the "streams" scope and allow
   * the address. Failures are audited like API-key failures. Concurrency is separate
   * (acquireStreamSlot).
   */
  async authenticateStreamKey(streamKey: string | undefined | null, remoteIp: string | undefined): Promise<{ ok: true; stream: StreamRecord; key: ApiKey } | AuthFailure> {
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

  async updateStream(id: string, patch: { name?: string; config?: Record<string, unknown> }, by: Actor = SYSTEM): Promise<StreamRecord> {
    const rec = await this.storage.streams.update(id, patch);
    if (!rec) throw new AccountsError("not_found", "id", `stream ${id} not found`);
    await this.audit({ ...by, action: "stream.updated", target: id, details: { fields: Object.keys(patch) } });
    return rec;
  }

  /** New stream key; the old one stops working at once (the hub should kick a live publisher). */
  async rotateStreamKey(id: string, by: Actor = SYSTEM): Promise<StreamRecord> {
    const rec = await this.storage.streams.update(id, { streamKey: newStreamKey() });
    if (!rec) throw new AccountsError("not_found", "id", `stream ${id} not found`);
    await this.audit({ ...by, action: "stream.key_rotated", target: id });
    return rec;
  }

  async deleteStream(id: string, by: Actor = SYSTEM): Promise<StreamRecord> {
    const rec = await this.storage.streams.delete(id, this.now());
    if (!rec) throw new AccountsError("not_found", "id", `stream ${id} not found`);
    await this.audit({ ...by, action: "stream.deleted", target: id, details: { owner: rec.ownerKeyId } });
    this.emit("streamDeleted", id, rec.ownerKeyId);
    return rec;
  }

  // ------------------------------------------------------------ first start

  /**
   * Makes sure an admin key exists.
   * - With `adminSecret` (WHARF_ADMIN_KEY): that secret is an admin key (its hash is
   *   stored once; idempotent). A key of that secret revoked through the API stays revoked.
   * - Without: on the very first start an admin key is generated, its secret written to
   *   <dataDir>/admin-key (mode 0600, before the key is committed) and returned so the
   *   server can print it. On later starts the secret is re-read from that file (so
   *   `npm start` can print it again) as long as the key is still active; delete the
   *   file once you have stored the secret elsewhere.
   */
  async ensureAdminKey(adminSecret?: string): Promise<EnsureAdminKeyResult> {
    if (adminSecret !== undefined && adminSecret !== "") {
      if (adminSecret.length < 16 || /\s/.test(adminSecret)) {
        throw new AccountsError("invalid_request", "WHARF_ADMIN_KEY", "WHARF_ADMIN_KEY must be at least 16 characters without whitespace");
      }
      const existing = await this.storage.keys.getByHash(hashSecret(adminSecret));
      if (existing) {
        if (existing.revokedAt !== null) log.warn({ keyId: existing.id }, "the key configured as WHARF_ADMIN_KEY has been revoked");
        else if (!existing.scopes.includes("admin")) log.warn({ keyId: existing.id }, "the key configured as WHARF_ADMIN_KEY lacks the admin scope");
        return { key: publicKey(existing), source: "config", created: false };
      }
      const key = await this.insertKey({ name: "admin (WHARF_ADMIN_KEY)", scopes: ["admin"] }, adminSecret, SYSTEM, { bootstrap: "config" });
      return { key, source: "config", created: true };
    }

    const file = path.join(this.dataDir, ADMIN_FILE);
    const knownId = await this.storage.meta.get(META_ADMIN_KEY_ID);
    if (knownId) {
      const row = await this.storage.keys.get(knownId);
      if (row && existsSync(file)) {
        const secret = readFileSync(file, "utf8").trim();
        if (row.revokedAt === null && hashSecret(secret) === row.secretHash) return { key: publicKey(row), secret, source: "file", created: false, file };
      }
      if (row) return { key: publicKey(row), source: "unavailable", created: false };
      // The bootstrap key vanished (should not happen): fall through and make a new one.
    }
    // Never overwrite an existing admin-key file (e.g. written by an earlier bootstrap
    // helper or by the operator): adopt its secret as the admin key.
    const existingSecret = existsSync(file) ? readFileSync(file, "utf8").trim() : "";
    if (existingSecret.length >= 16 && !/\s/.test(existingSecret)) {
      const row = await this.storage.keys.getByHash(hashSecret(existingSecret));
      const key = row
        ? publicKey(row)
        : await this.insertKey({ name: "admin (admin-key file)", scopes: ["admin"] }, existingSecret, SYSTEM, { bootstrap: "file" });
      await this.storage.meta.set(META_ADMIN_KEY_ID, key.id);
      if (key.revokedAt !== null) return { key, source: "unavailable", created: false };
      return { key, secret: existingSecret, source: "file", created: !row, file };
    }
    const secret = newApiKeySecret();
    writeSecretFile(file, secret);
    const key = await this.insertKey({ name: "admin (generated)", scopes: ["admin"] }, secret, SYSTEM, { bootstrap: "generated" });
    await this.storage.meta.set(META_ADMIN_KEY_ID, key.id);
    return { key, secret, source: "generated", created: true, file };
  }

  // ------------------------------------------------------------ multi-process

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
    this.closed = true;
    await this.storage.close();
    this.removeAllListeners();
  }
}

export function createAccounts(opts: AccountsOptions): Accounts {
  return new Accounts(opts);
}

// ---------------------------------------------------------------- helpers

function fmt(micros: number): string {
  return (micros / 1_000_000).toFixed(2);
}

function limitsOf(k: ApiKey) {
  return {
    ipAllowlist: k.ipAllowlist, rateLimit: k.rateLimit, maxConcurrentStreams: k.maxConcurrentStreams,
    dailyCapMicros: k.dailyCapMicros, monthlyCapMicros: k.monthlyCapMicros,
  };
}

function requireNonNegative(v: number, field: string): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new AccountsError("invalid_request", field, `${field} must be a non-negative number`);
}

function optionalCount(v: number | null | undefined, field: string, min: number): number | null | undefined {
  if (v === undefined || v === null) return v;
  if (!Number.isInteger(v) || v < min) throw new AccountsError("invalid_request", field, `${field} must be an integer >= ${min} or null`);
  return v;
}

/** Validates and normalizes key input into a store patch. */
export function validateKeyInput(input: UpdateKeyInput, creating: boolean): KeyLimitsPatch {
  const out: KeyLimitsPatch = {};
  if (creating || input.name !== undefined) {
    if (typeof input.name !== "string" || input.name.trim().length < 1 || input.name.length > 100) throw new AccountsError("invalid_request", "name", "name must be 1-100 characters");
    out.name = input.name.trim();
  }
  if (creating || input.scopes !== undefined) {
    const scopes = input.scopes;
    if (!Array.isArray(scopes) || scopes.length === 0) throw new AccountsError("invalid_request", "scopes", `scopes must be a non-empty list of ${SCOPES.join(", ")}`);
    for (const s of scopes) if (!SCOPES.includes(s)) throw new AccountsError("invalid_request", "scopes", `unknown scope "${String(s)}" (allowed: ${SCOPES.join(", ")})`);
    out.scopes = [...new Set(scopes)];
  }
  if (input.ipAllowlist !== undefined) {
    if (input.ipAllowlist === null) out.ipAllowlist = null;
    else {
      if (!Array.isArray(input.ipAllowlist) || input.ipAllowlist.length === 0 || input.ipAllowlist.length > 100) {
        throw new AccountsError("invalid_request", "ipAllowlist", "ipAllowlist must be a list of 1-100 CIDR ranges, or null for any address");
      }
      out.ipAllowlist = input.ipAllowlist.map((c, i) => {
        try {
          return canonicalCidr(String(c));
        } catch (e) {
          throw new AccountsError("invalid_request", `ipAllowlist[${i}]`, (e as Error).message);
        }
      });
    }
  }
  if (input.rateLimit !== undefined) {
    if (input.rateLimit === null) out.rateLimit = null;
    else {
      const rpm = input.rateLimit.requestsPerMinute;
      if (!Number.isInteger(rpm) || rpm < 1 || rpm > 1_000_000) throw new AccountsError("invalid_request", "rateLimit.requestsPerMinute", "rateLimit.requestsPerMinute must be an integer 1-1000000");
      const burst = input.rateLimit.burst ?? defaultBurst(rpm);
      if (!Number.isInteger(burst) || burst < 1 || burst > 1_000_000) throw new AccountsError("invalid_request", "rateLimit.burst", "rateLimit.burst must be an integer 1-1000000");
      out.rateLimit = { requestsPerMinute: rpm, burst };
    }
  }
  const mcs = optionalCount(input.maxConcurrentStreams, "maxConcurrentStreams", 0);
  if (mcs !== undefined) out.maxConcurrentStreams = mcs;
  const daily = optionalCount(input.dailyCapMicros, "spendCaps.daily", 0);
  if (daily !== undefined) out.dailyCapMicros = daily;
  const monthly = optionalCount(input.monthlyCapMicros, "spendCaps.monthly", 0);
  if (monthly !== undefined) out.monthlyCapMicros = monthly;
  return out;
}

/** Writes the admin secret with mode 0600 atomically and durably (tmp + fsync + rename). */
function writeSecretFile(file: string, secret: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, secret + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
