// Authentication of bearer secrets: hash lookup with a small cache, scope and IP
// allowlist checks, and rate-limited audit of failures.
import { hashSecret } from "./crypto.ts";
import { ipAllowed, parseCidr, type ParsedCidr } from "./ip.ts";
import type { ApiKey, ApiKeyRow, AuditStore, KeyStore, Scope } from "./types.ts";
import { moduleLogger } from "../../core/log.ts";

const log = moduleLogger("accounts.auth");

export type AuthFailureReason = "missing" | "unknown" | "revoked" | "scope" | "ip";

export interface AuthFailure {
  ok: false;
  status: 401 | 403;
  error: "unauthorized" | "forbidden";
  reason: AuthFailureReason;
  message: string;
  keyId?: string;
}

export type AuthResult = { ok: true; key: ApiKey } | AuthFailure;

/** "any" = any valid key regardless of scope. */
export type RequiredScope = Scope | "any";

export function hasScope(key: Pick<ApiKey, "scopes">, scope: RequiredScope): boolean {
  return scope === "any" || key.scopes.includes("admin") || key.scopes.includes(scope);
}

interface CacheEntry {
  key: ApiKey;
  ranges: ParsedCidr[] | null;
  expires: number;
}

export interface AuthServiceOptions {
  keys: KeyStore;
  audit: AuditStore;
  /** Cache lifetime of a positive lookup. Revocations in this process invalidate at once; other processes are seen by the change watcher. */
  cacheTtlMs?: number;
  cacheMaxEntries?: number;
  /** Aggregation window for auth.failed audit entries, per remote address. */
  failureWindowMs?: number;
  now?: () => number;
}

export function publicKey(row: ApiKeyRow | ApiKey): ApiKey {
  const { secretHash: _omit, ...key } = row as ApiKeyRow;
  return key;
}

export class AuthService {
  /**
   * Keys found by their secret, for `cacheTtlMs`. Keyed by the secret itself, not its hash: a
   * SHA-256 per request was ~3 µs of the single-shot apps lane's CPU per run. Only secrets that
   * were valid are held, in this process's memory only (never logged or written anywhere), and
   * they are dropped when their key is revoked or changed (`invalidate`).
   */
  private readonly cache = new Map<string, CacheEntry>();
  private sweptAt = 0;
  /** Counts invalidations: a lookup that spanned one does not cache what it read. */
  private epoch = 0;
  private readonly failures: FailureAuditor;
  private readonly ttl: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly opts: AuthServiceOptions) {
    this.ttl = opts.cacheTtlMs ?? 30_000;
    this.maxEntries = opts.cacheMaxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.failures = new FailureAuditor(opts.audit, opts.failureWindowMs ?? 60_000, this.now);
  }

  /**
   * Checks a bearer secret. 401 when missing, unknown or revoked; 403 when the
   * key lacks the scope (admin implies every scope) or the address is not allowed.
   * A key in the cache is checked at once (no promise: the single-shot apps lane runs thousands
   * a second); otherwise it is looked up in the store.
   */
  authenticate(secret: string | undefined | null, remoteIp: string | undefined, scope: RequiredScope): AuthResult | Promise<AuthResult> {
    if (!secret) return this.fail(remoteIp, { status: 401, error: "unauthorized", reason: "missing", message: "missing API key: send Authorization: Bearer <key>" });
    const entry = this.cache.get(secret);
    if (entry) {
      if (entry.expires > this.now()) return this.verdict(entry, remoteIp, scope);
      this.cache.delete(secret);
    }
    return this.lookup(secret, remoteIp, scope);
  }

  private async lookup(secret: string, remoteIp: string | undefined, scope: RequiredScope): Promise<AuthResult> {
    const epoch = this.epoch;
    const row = await this.opts.keys.getByHash(hashSecret(secret));
    if (!row) {
      this.cache.delete(secret);
      return this.fail(remoteIp, { status: 401, error: "unauthorized", reason: "unknown", message: "invalid API key" });
    }
    const now = this.now();
    const entry = { key: publicKey(row), ranges: row.ipAllowlist ? row.ipAllowlist.map(parseCidr) : null, expires: now + this.ttl };
    // Expired secrets leave memory at the next lookup after their lifetime (a lookup happens
    // whenever any cached key's entry runs out), not only when the same secret comes again.
    if (now - this.sweptAt >= this.ttl) {
      this.sweptAt = now;
      for (const [s, e] of this.cache) if (e.expires <= now) this.cache.delete(s);
    }
    // A key revoked or changed while it was read (an invalidation since) may be stale: not cached.
    if (epoch !== this.epoch) return this.verdict(entry, remoteIp, scope);
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(secret, entry);
    return this.verdict(entry, remoteIp, scope);
  }

  private verdict(entry: CacheEntry, remoteIp: string | undefined, scope: RequiredScope): AuthResult {
    const key = entry.key;
    if (key.revokedAt !== null) {
      return this.fail(remoteIp, { status: 401, error: "unauthorized", reason: "revoked", message: "API key has been revoked", keyId: key.id });
    }
    if (entry.ranges && !ipAllowed(remoteIp, entry.ranges)) {
      return this.fail(remoteIp, { status: 403, error: "forbidden", reason: "ip", message: `address ${remoteIp ?? "(unknown)"} is not in this key's IP allowlist`, keyId: key.id });
    }
    if (!hasScope(key, scope)) {
      return this.fail(remoteIp, { status: 403, error: "forbidden", reason: "scope", message: `API key lacks the "${scope}" scope`, keyId: key.id });
    }
    return { ok: true, key };
  }

  /** Drops cached entries of a key (revoked or changed). */
  invalidate(keyId: string): void {
    this.epoch++;
    for (const [secret, e] of this.cache) if (e.key.id === keyId) this.cache.delete(secret);
  }

  invalidateAll(): void {
    this.epoch++;
    this.cache.clear();
  }

  /** Resolves once the failure entries already written are stored (the audit log reads its own writes). */
  settled(): Promise<void> {
    return this.failures.settled();
  }

  /** Writes pending aggregated failure entries. */
  async flush(): Promise<void> {
    await this.failures.flush(true);
  }

  /** Records an authentication failure decided elsewhere (e.g. a bad stream key) and returns it. */
  reject(remoteIp: string | undefined, r: Omit<AuthFailure, "ok">): AuthFailure {
    return this.fail(remoteIp, r);
  }

  private fail(remoteIp: string | undefined, r: Omit<AuthFailure, "ok">): AuthFailure {
    this.failures.record(remoteIp ?? "unknown", r.reason, r.keyId);
    return { ok: false, ...r };
  }
}

interface FailureWindow {
  start: number;
  /** Failures after the first one in this window (the first is written at once). */
  suppressed: number;
  reasons: Partial<Record<AuthFailureReason, number>>;
  keyIds: Set<string>;
}

const MAX_TRACKED_IPS = 10_000;

/**
 * At most two audit rows per remote address per window: the first failure at
 * once, then one summary `{count, reasons}` when the window ends. Beyond
 * MAX_TRACKED_IPS addresses, failures aggregate under the address "*".
 */
class FailureAuditor {
  private readonly windows = new Map<string, FailureWindow>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly audit: AuditStore, private readonly windowMs: number, private readonly now: () => number) {}

  record(ip: string, reason: AuthFailureReason, keyId: string | undefined): void {
    const t = this.now();
    void this.flush(false);
    if (!this.windows.has(ip) && this.windows.size >= MAX_TRACKED_IPS) ip = "*";
    const w = this.windows.get(ip);
    if (w) {
      w.suppressed++;
      w.reasons[reason] = (w.reasons[reason] ?? 0) + 1;
      if (keyId && w.keyIds.size < 20) w.keyIds.add(keyId);
      return;
    }
    this.windows.set(ip, { start: t, suppressed: 0, reasons: {}, keyIds: new Set() });
    this.write({ actor: keyId ?? "system", action: "auth.failed", target: keyId ?? null, details: { reason, count: 1 }, remoteIp: ip });
    if (!this.timer) {
      this.timer = setInterval(() => void this.flush(false), this.windowMs);
      this.timer.unref();
    }
  }

  async flush(all: boolean): Promise<void> {
    const t = this.now();
    const pending: Promise<void>[] = [];
    for (const [ip, w] of this.windows) {
      if (!all && t - w.start < this.windowMs) continue;
      this.windows.delete(ip);
      if (w.suppressed > 0) {
        pending.push(this.write({
          actor: "system", action: "auth.failed", target: null, remoteIp: ip,
          details: { count: w.suppressed, reasons: w.reasons, keyIds: [...w.keyIds], windowStart: new Date(w.start).toISOString(), aggregated: true },
        }));
      }
    }
    if (this.windows.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    await Promise.all(pending);
  }

  private readonly writing = new Set<Promise<void>>();

  private write(e: Parameters<AuditStore["append"]>[0]): Promise<void> {
    const p = this.audit.append(e).then(
      () => undefined,
      (err: unknown) => log.error({ err }, "could not write auth.failed audit entry"),
    );
    this.writing.add(p);
    void p.finally(() => this.writing.delete(p));
    return p;
  }

  /** Resolves once the entries already handed to the store are written (a network database answers later). */
  async settled(): Promise<void> {
    await Promise.all([...this.writing]);
  }
}
