// Auth tokens the orchestrator issues in GetOrchestrator and checks on every
// segment / AI request (opaque random bytes, a session id, an expiration).
import { randomBytes } from "node:crypto";
import type { AuthToken } from "../protocol/messages.ts";

export const DEFAULT_TOKEN_TTL_MS = 30 * 60 * 1000;

export type TokenCheck = { ok: true; sessionId: string } | { ok: false; reason: "missing" | "unknown" | "expired" };

export class AuthTokenStore {
  private readonly tokens = new Map<string, { sessionId: string; expiresAtMs: number }>();

  constructor(
    private readonly ttlMs = DEFAULT_TOKEN_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** A fresh token: 32 random bytes, random session id, expiration now + ttl (unix seconds). */
  issue(): AuthToken {
    this.purge();
    const token = randomBytes(32);
    const sessionId = randomBytes(8).toString("hex");
    const expiresAtMs = this.now() + this.ttlMs;
    this.tokens.set(token.toString("hex"), { sessionId, expiresAtMs });
    return { token, sessionId, expiration: Math.floor(expiresAtMs / 1000) };
  }

  /** Known, unexpired, and the session id / expiration match what was issued. */
  check(t: AuthToken | undefined): TokenCheck {
    if (!t?.token || t.token.length === 0) return { ok: false, reason: "missing" };
    const rec = this.tokens.get(Buffer.from(t.token).toString("hex"));
    if (!rec || rec.sessionId !== t.sessionId) return { ok: false, reason: "unknown" };
    if (rec.expiresAtMs <= this.now()) return { ok: false, reason: "expired" };
    return { ok: true, sessionId: rec.sessionId };
  }

  revoke(t: AuthToken | undefined): boolean {
    if (!t?.token) return false;
    return this.tokens.delete(Buffer.from(t.token).toString("hex"));
  }

  get size(): number {
    return this.tokens.size;
  }

  /** Forget tokens expired for more than a minute (a late request still gets "expired"). */
  purge(): void {
    const limit = this.now() - 60_000;
    for (const [k, v] of this.tokens) if (v.expiresAtMs < limit) this.tokens.delete(k);
  }
}
