// Domain types of the accounts module and the storage interface behind it.
//
// Money is always an integer number of micro-units of the operator's currency
// (1 USD = 1_000_000 micros). Orchestrator costs are wei, kept as decimal strings
// (they can exceed 2^63 when summed). Times are milliseconds since the Unix epoch.
//
// Every storage method returns a Promise so a shared network database can
// implement the same interface later; the SQLite implementation completes its
// writes (committed, fsynced) before the promise resolves.

export const SCOPES = ["admin", "streams", "ai"] as const;
export type Scope = (typeof SCOPES)[number];

export interface RateLimit {
  /** Sustained rate. */
  requestsPerMinute: number;
  /** Bucket size: how many requests may arrive at once. */
  burst: number;
}

export interface ApiKey {
  id: string;
  name: string;
  /** Non-secret display prefix of the secret, e.g. "wk_AbC12345". */
  prefix: string;
  scopes: Scope[];
  /** CIDR list; null = any address. */
  ipAllowlist: string[] | null;
  /** null = unlimited. */
  rateLimit: RateLimit | null;
  /** Live streams this key may run at once; null = unlimited. */
  maxConcurrentStreams: number | null;
  /** Spend caps in micro-units; null = no cap. */
  dailyCapMicros: number | null;
  monthlyCapMicros: number | null;
  createdAt: number;
  updatedAt: number;
  revokedAt: number | null;
}

/** Stored form: the key plus the SHA-256 (hex) of its secret. */
export interface ApiKeyRow extends ApiKey {
  secretHash: string;
}

export type KeyLimitsPatch = Partial<
  Pick<ApiKey, "name" | "scopes" | "ipAllowlist" | "rateLimit" | "maxConcurrentStreams" | "dailyCapMicros" | "monthlyCapMicros">
>;

export interface StreamRow {
  id: string;
  name: string;
  pipeline: string;
  ownerKeyId: string;
  /** Publishing secret, shown to the owner (OBS needs it). Never log it. */
  streamKey: string;
  config: Record<string, unknown>;
  createdAt: number;
  deletedAt: number | null;
}

export type UsageKind = "batch" | "stream";

export interface UsageRecord {
  id: number;
  ts: number;
  kind: UsageKind;
  keyId: string;
  pipeline: string;
  model: string | null;
  streamId: string | null;
  requestId: string | null;
  /** Billing units: batch = the pipeline's units (pixels, ms, tokens...); stream = output pixels. */
  units: number;
  durationMs: number;
  orchestrator: string | null;
  orchestratorCostWei: string;
  /** Expected value of the tickets sent for this work (wei): what Wharf really paid. */
  paidWei: string;
  chargeMicros: number;
  currency: string;
}

export type NewUsageRecord = Omit<UsageRecord, "id">;

export type UsageGroupBy = "day" | "pipeline" | "key";

export interface UsageQuery {
  from: number;
  /** Exclusive. */
  to: number;
  keyId?: string;
  pipeline?: string;
  limit?: number;
}

export interface UsageGroup {
  /** "YYYY-MM-DD" (UTC) for day, the pipeline name, or the key id. */
  group: string;
  records: number;
  units: number;
  durationMs: number;
  orchestratorCostWei: string;
  paidWei: string;
  chargeMicros: number;
}

export interface AuditEntry {
  id: number;
  ts: number;
  /** Key id or "system". */
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  remoteIp: string | null;
}

export type NewAuditEntry = Omit<AuditEntry, "id" | "ts"> & { ts?: number };

export interface AuditQuery {
  action?: string;
  /** Matches actor or target. */
  keyId?: string;
  from?: number;
  to?: number;
  /** Default 100, max 1000. */
  limit?: number;
  /** Return entries with id < before (paging). */
  before?: number;
}

export interface KeyStore {
  insert(row: ApiKeyRow): Promise<void>;
  get(id: string): Promise<ApiKeyRow | undefined>;
  getByHash(secretHash: string): Promise<ApiKeyRow | undefined>;
  list(opts?: { includeRevoked?: boolean }): Promise<ApiKeyRow[]>;
  /** Applies a patch; returns the updated row or undefined if unknown. */
  update(id: string, patch: KeyLimitsPatch, now: number): Promise<ApiKeyRow | undefined>;
  /** Returns the revoked row (unchanged if it already was revoked) or undefined if unknown. */
  revoke(id: string, now: number): Promise<ApiKeyRow | undefined>;
  /** Cheap version/change feed for multi-process deployments: id -> updatedAt, revokedAt. */
  versions(): Promise<Map<string, { updatedAt: number; revokedAt: number | null }>>;
}

export interface StreamStore {
  create(rec: StreamRow): Promise<StreamRow>;
  get(id: string): Promise<StreamRow | undefined>;
  list(opts?: { ownerKeyId?: string; includeDeleted?: boolean }): Promise<StreamRow[]>;
  /** Soft delete; returns the record or undefined if unknown/already deleted. */
  delete(id: string, now: number): Promise<StreamRow | undefined>;
  findByStreamKey(streamKey: string): Promise<StreamRow | undefined>;
  update(id: string, patch: Partial<Pick<StreamRow, "name" | "config" | "streamKey">>): Promise<StreamRow | undefined>;
}

/** How a usage record is written. */
export interface UsageInsertOptions {
  /**
   * Nobody waits for it on the event loop (tallied single-shot runs): SQLite commits it on the
   * usage ledger's thread instead of the main connection (usage-ledger.ts). As durable when the
   * promise resolves either way.
   */
  background?: boolean;
}

export interface UsageStore {
  /** Durable before it resolves. A duplicate requestId returns the existing record. */
  insert(rec: NewUsageRecord, opts?: UsageInsertOptions): Promise<UsageRecord>;
  /** The record with this request id, if any. */
  findByRequest(requestId: string): Promise<UsageRecord | undefined>;
  list(q: UsageQuery): Promise<UsageRecord[]>;
  group(q: UsageQuery, by: UsageGroupBy): Promise<UsageGroup[]>;
  /** Sum of chargeMicros for a key in [from, to). */
  sumCharges(keyId: string, from: number, to: number): Promise<number>;
  /**
   * What the spend check reads: a key's charges since `dayStart` (a UTC day start) and since
   * `monthStart` (a UTC month start). PostgreSQL reads per-key day and month rollups kept in the
   * insert's transaction (never a sum over the month's rows); SQLite sums its indexed rows.
   */
  spentSince(keyId: string, dayStart: number, monthStart: number): Promise<{ day: number; month: number }>;
}

export interface AuditStore {
  append(e: NewAuditEntry): Promise<AuditEntry>;
  query(q: AuditQuery): Promise<AuditEntry[]>;
}

export interface MetaStore {
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
}

export interface AccountsStorage {
  keys: KeyStore;
  streams: StreamStore;
  usage: UsageStore;
  audit: AuditStore;
  meta: MetaStore;
  /** Number that changes when API keys changed, in another process too (a counter kept by triggers). */
  externalChangeCounter(): Promise<number>;
  close(): Promise<void>;
}
