// Cluster-wide limits in Redis, each decided atomically by one Lua script: request rate (token
// bucket), live-stream slots and spend reservations. Holdings carry a TTL so a dead node's expire.
// Round trips: each script also answers the key's spend release sequence number, which the next
// spend check on this node may use as its mark (see mark()) instead of asking Redis for it.
import type { Redis } from "ioredis";
import type { RateDecision, StreamSlot } from "../accounts/ratelimit.ts";
import type { SpendCaps, SpendHoldings } from "../accounts/spend.ts";
import type { RateLimit } from "../accounts/types.ts";

/** Redis's own clock, so every node's decisions use one time. */
const NOW_MS = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// The same bucket as TokenBucketLimiter (ratelimit.ts): refills at rpm/60000 per ms up to burst.
// KEYS[2]: the key's spend release sequence (answered as the 4th value, a spend mark).
const TOKEN_BUCKET = `${NOW_MS}
local seq = redis.call('GET', KEYS[2]) or '0'
local rpm = tonumber(ARGV[1]); local burst = tonumber(ARGV[2]); local cost = tonumber(ARGV[3])
local rate = rpm / 60000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(b[1]); local last = tonumber(b[2])
if tokens == nil then tokens = burst; last = now end
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local ok = 0
if tokens >= cost then tokens = tokens - cost; ok = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / math.max(rate, 1e-9)) + 1000)
if ok == 1 then return {1, math.floor(tokens), 0, seq} end
local wait = 60000
if rate > 0 and cost <= burst then wait = (cost - tokens) / rate end
return {0, 0, math.ceil(wait), seq}`;

// KEYS[1] hash slot id -> expiry ms. ARGV: limit (-1 none), slot id, ttl ms.
const SLOT_ACQUIRE = `${NOW_MS}
local all = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) <= now then redis.call('HDEL', KEYS[1], all[i]) else n = n + 1 end
end
local limit = tonumber(ARGV[1])
if limit >= 0 and n >= limit then return {0, n} end
redis.call('HSET', KEYS[1], ARGV[2], now + tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
return {1, n + 1}`;

const SLOT_RENEW = `${NOW_MS}
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2])); redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2); return 1
end
return 0`;

// Spend reservations of one key. KEYS: 1 live (hash id -> amount), 2 expiry (zset id -> ms),
// 3 total of live, 4 released (zset "seq:amount:ms" by seq), 5 release seq.
const PURGE = `
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(dead) do
  local amt = redis.call('HGET', KEYS[1], id)
  if amt then redis.call('DECRBY', KEYS[3], amt); redis.call('HDEL', KEYS[1], id) end
  redis.call('ZREM', KEYS[2], id)
end
while true do
  local first = redis.call('ZRANGE', KEYS[4], 0, 0)
  if #first == 0 then break end
  local ms = tonumber(string.match(first[1], ':(%d+)$'))
  if ms > now - tonumber(ARGV[1]) then break end
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, 0)
end`;

// ARGV: keep released ms, mark seq, spent day, spent month, projected, cap day (-1), cap month (-1), id, ttl ms, reserve (1/0)
const SPEND_HOLD = `${NOW_MS}${PURGE}
local held = tonumber(redis.call('GET', KEYS[3]) or '0')
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. ARGV[2], '+inf')) do
  held = held + tonumber(string.match(m, '^%d+:(%-?%d+):'))
end
local projected = tonumber(ARGV[5]); local capDay = tonumber(ARGV[6]); local capMonth = tonumber(ARGV[7])
if (capMonth >= 0 and tonumber(ARGV[4]) + held + projected > capMonth) or (capDay >= 0 and tonumber(ARGV[3]) + held + projected > capDay) then
  return {0, held, redis.call('GET', KEYS[5]) or '0'}
end
if ARGV[10] == '1' and projected > 0 then
  redis.call('HSET', KEYS[1], ARGV[8], projected)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[9]), ARGV[8])
  redis.call('INCRBY', KEYS[3], projected)
end
local ttl = tonumber(ARGV[9]) + tonumber(ARGV[1])
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
return {1, held, redis.call('GET', KEYS[5]) or '0'}`;

// ARGV: keep released ms, id
const SPEND_RELEASE = `${NOW_MS}
local amt = redis.call('HGET', KEYS[1], ARGV[2])
if not amt then return redis.call('GET', KEYS[5]) or '0' end
redis.call('HDEL', KEYS[1], ARGV[2]); redis.call('ZREM', KEYS[2], ARGV[2]); redis.call('DECRBY', KEYS[3], amt)
local seq = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[4], seq, seq .. ':' .. amt .. ':' .. now)
return tostring(seq)`;

export interface ClusterLimitsOptions {
  /** Key prefix, e.g. "wharf:". */
  prefix: string;
  /** How long a live-stream slot lives without renewal (a dead node's slots free after this). */
  slotTtlMs?: number;
  /** How long a spend reservation lives without release (longer than any billed request). */
  reservationTtlMs?: number;
}

/** A spend check whose committed-spend read took longer than this is redone (see SPEND_HOLD: released entries are kept this long). */
const RELEASED_KEPT_MS = 30_000;

/**
 * A release sequence number this node saw (answered by a bucket, hold or release call sent less
 * than this long ago) serves as the next spend check's mark without a round trip. Any number seen
 * before the committed spend is read is a correct mark: an older one only makes the check count
 * releases (already committed) twice, i.e. refuse a little earlier near the cap, never later; this
 * bounds that to the releases of the last few milliseconds.
 */
const MARK_REUSE_MS = 50;
const MAX_MARKS = 10_000;

export class ClusterLimits implements SpendHoldings {
  private readonly prefix: string;
  private readonly slotTtlMs: number;
  private readonly reservationTtlMs: number;
  private readonly heldSlots = new Map<string, string>(); // slot id -> redis key
  private readonly renewTimer: NodeJS.Timeout;
  private seq = 0;
  private readonly instance = Math.random().toString(36).slice(2, 10);
  /** Per key: the latest release sequence number seen and when the call that saw it was sent. */
  private readonly marks = new Map<string, { seq: string; at: number }>();

  constructor(private readonly redis: Redis, opts: ClusterLimitsOptions) {
    this.prefix = opts.prefix;
    this.slotTtlMs = opts.slotTtlMs ?? 15_000;
    this.reservationTtlMs = opts.reservationTtlMs ?? 15 * 60_000;
    redis.defineCommand("wharfBucket", { numberOfKeys: 2, lua: TOKEN_BUCKET });
    redis.defineCommand("wharfSlotAcquire", { numberOfKeys: 1, lua: SLOT_ACQUIRE });
    redis.defineCommand("wharfSlotRenew", { numberOfKeys: 1, lua: SLOT_RENEW });
    redis.defineCommand("wharfSpendHold", { numberOfKeys: 5, lua: SPEND_HOLD });
    redis.defineCommand("wharfSpendRelease", { numberOfKeys: 5, lua: SPEND_RELEASE });
    this.renewTimer = setInterval(() => void this.renewSlots(), Math.max(1000, this.slotTtlMs / 3));
    this.renewTimer.unref();
  }

  private id(): string {
    return `${this.instance}-${++this.seq}`;
  }

  private run(cmd: string, ...args: Array<string | number>): Promise<unknown> {
    return (this.redis as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[cmd]!(...args);
  }

  /** One request from the key's cluster-wide token bucket. */
  async consume(keyId: string, limit: RateLimit | null, cost = 1): Promise<RateDecision> {
    if (!limit) return { ok: true, remaining: Infinity, limit: Infinity };
    const sent = Date.now();
    const [ok, remaining, waitMs, seq] = (await this.run("wharfBucket", `${this.prefix}rate:${keyId}`, this.spendKeys(keyId)[4]!, limit.requestsPerMinute, limit.burst, cost)) as [number, number, number, string];
    this.saw(keyId, seq, sent);
    if (ok === 1) return { ok: true, remaining: remaining!, limit: limit.requestsPerMinute };
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs! / 1000)), limit: limit.requestsPerMinute };
  }

  /** Forgets a key's bucket (key revoked). */
  reset(keyId: string): void {
    void this.redis.del(`${this.prefix}rate:${keyId}`).catch(() => {});
  }

  /** One more live stream for the key, counted over every node; renewed while held. */
  async acquireSlot(keyId: string, limit: number | null): Promise<StreamSlot> {
    const key = `${this.prefix}slots:${keyId}`;
    const id = this.id();
    const [ok, n] = (await this.run("wharfSlotAcquire", key, limit ?? -1, id, this.slotTtlMs)) as number[];
    if (ok !== 1) return { ok: false, active: n!, limit: limit! };
    this.heldSlots.set(id, key);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.heldSlots.delete(id);
        void this.redis.hdel(key, id).catch(() => {}); // unreachable Redis: the slot expires with its TTL
      },
    };
  }

  private async renewSlots(): Promise<void> {
    for (const [id, key] of this.heldSlots) await this.run("wharfSlotRenew", key, id, this.slotTtlMs).catch(() => {});
  }

  private spendKeys(keyId: string): string[] {
    const k = `${this.prefix}spend:${keyId}:`;
    return [k + "live", k + "exp", k + "total", k + "released", k + "seq"];
  }

  private saw(keyId: string, seq: unknown, sent: number): void {
    if (typeof seq !== "string" && typeof seq !== "number") return;
    const had = this.marks.get(keyId);
    if (had && had.at >= sent) return;
    if (!had && this.marks.size >= MAX_MARKS) this.marks.clear();
    this.marks.set(keyId, { seq: String(seq), at: sent });
  }

  async mark(keyId: string): Promise<string> {
    const seen = this.marks.get(keyId);
    if (seen && Date.now() - seen.at <= MARK_REUSE_MS) return `${seen.seq}@${seen.at}`;
    const sent = Date.now();
    const seq = (await this.redis.get(this.spendKeys(keyId)[4]!)) ?? "0";
    this.saw(keyId, seq, sent);
    return `${seq}@${sent}`;
  }

  async hold(keyId: string, mark: string, spent: { day: number; month: number }, caps: SpendCaps, projectedMicros: number, reserve: boolean) {
    const [seq, markedAt] = mark.split("@");
    if (Date.now() - Number(markedAt) > RELEASED_KEPT_MS / 2) throw new Error("spend check took too long (the committed spend read may be stale); retry");
    const id = this.id();
    const sent = Date.now();
    const [ok, held, seqNow] = (await this.run(
      "wharfSpendHold", ...this.spendKeys(keyId), RELEASED_KEPT_MS, seq!, spent.day, spent.month, projectedMicros,
      caps.dailyCapMicros ?? -1, caps.monthlyCapMicros ?? -1, id, this.reservationTtlMs, reserve ? 1 : 0,
    )) as [number, number, string];
    this.saw(keyId, seqNow, sent);
    let release = () => {};
    if (ok === 1 && reserve && projectedMicros > 0) {
      let done = false;
      release = () => {
        if (done) return;
        done = true;
        const at = Date.now();
        void this.run("wharfSpendRelease", ...this.spendKeys(keyId), RELEASED_KEPT_MS, id).then((seq) => this.saw(keyId, seq, at), () => {});
      };
    }
    return { held: held!, ok: ok === 1, release };
  }

  stop(): void {
    clearInterval(this.renewTimer);
  }
}
