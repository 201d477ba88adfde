// Per-key request rate limiting (token bucket) and live-stream concurrency.
// In memory, per process: with several gateway instances each enforces its own share.
import type { RateLimit } from "./types.ts";

export type RateDecision =
  | { ok: true; remaining: number; limit: number }
  | { ok: false; retryAfterSeconds: number; limit: number };

interface Bucket {
  tokens: number;
  last: number;
  rpm: number;
  burst: number;
}

/** Default burst when only requests/minute is given: ten seconds' worth, at least 1. */
export function defaultBurst(requestsPerMinute: number): number {
  return Math.max(1, Math.ceil(requestsPerMinute / 6));
}

export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private ops = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Takes `cost` tokens from the key's bucket. A null limit always allows. */
  consume(keyId: string, limit: RateLimit | null, cost = 1): RateDecision {
    if (!limit) return { ok: true, remaining: Infinity, limit: Infinity };
    const t = this.now();
    const ratePerMs = limit.requestsPerMinute / 60_000;
    let b = this.buckets.get(keyId);
    if (!b) {
      b = { tokens: limit.burst, last: t, rpm: limit.requestsPerMinute, burst: limit.burst };
      this.buckets.set(keyId, b);
    } else {
      b.tokens = Math.min(limit.burst, b.tokens + (t - b.last) * ratePerMs);
      b.last = t;
      b.rpm = limit.requestsPerMinute;
      b.burst = limit.burst;
    }
    if (++this.ops % 1024 === 0) this.sweep(t);
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return { ok: true, remaining: Math.floor(b.tokens), limit: limit.requestsPerMinute };
    }
    if (ratePerMs <= 0 || cost > limit.burst) return { ok: false, retryAfterSeconds: 60, limit: limit.requestsPerMinute };
    const waitMs = (cost - b.tokens) / ratePerMs;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)), limit: limit.requestsPerMinute };
  }

  /** Forget a key's bucket (limits changed or key revoked). */
  reset(keyId: string): void {
    this.buckets.delete(keyId);
  }

  /** Drops buckets that have refilled completely (they behave exactly like new ones). */
  private sweep(t: number): void {
    for (const [id, b] of this.buckets) {
      if (b.tokens + (t - b.last) * (b.rpm / 60_000) >= b.burst) this.buckets.delete(id);
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}

export type StreamSlot =
  | { ok: true; release: () => void }
  | { ok: false; active: number; limit: number };

/** Counts live streams per key. `acquire` before admitting a stream; call `release` exactly once when it ends. */
export class ConcurrencyLimiter {
  private readonly active = new Map<string, number>();

  acquire(keyId: string, limit: number | null): StreamSlot {
    const n = this.active.get(keyId) ?? 0;
    if (limit !== null && n >= limit) return { ok: false, active: n, limit };
    this.active.set(keyId, n + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const m = (this.active.get(keyId) ?? 1) - 1;
        if (m <= 0) this.active.delete(keyId);
        else this.active.set(keyId, m);
      },
    };
  }

  count(keyId: string): number {
    return this.active.get(keyId) ?? 0;
  }
}
