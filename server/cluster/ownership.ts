// Stream ownership in Redis: the node that admits a publisher holds a lease on the stream (renewed;
// it expires a few seconds after the node dies), so a second publisher on the same stream is refused
// on every node, and every node knows where to proxy the stream's playback (docs/cluster.md).
import type { Redis } from "ioredis";
import { moduleLogger } from "../../core/log.ts";

const log = moduleLogger("cluster-lease");

/** Where a rendition's HLS timeline stood on the last owner: the next node continues from it. */
export interface HlsContinuation {
  /** The next media sequence number the last owner would have used. */
  nextMsn: number;
  /** Discontinuity tags before that segment (the next segment's EXT-X-DISCONTINUITY-SEQUENCE base). */
  discontinuities: number;
}

/** Continuation field: "1" when the last owner ended the session itself (its numbers are exact). */
const FINAL = "~final";

export interface StreamOwner {
  nodeId: string;
  address: string;
}

// KEYS[1] lease hash. ARGV: node id, address, session id, ttl ms. Returns {1} or {0, owner node, owner address}.
const ACQUIRE = `
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= ARGV[1] then return {0, owner, redis.call('HGET', KEYS[1], 'address') or ''} end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'address', ARGV[2], 'session', ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return {1}`;

// KEYS[1] lease, KEYS[2] continuation hash. ARGV: node, session, address, ttl ms, continuation ttl ms,
// then field/value pairs. A lease that expired meanwhile (Redis was away) and that no one took is taken again.
const RENEW = `
local owner = redis.call('HGET', KEYS[1], 'node')
if not owner then
  redis.call('HSET', KEYS[1], 'node', ARGV[1], 'address', ARGV[3], 'session', ARGV[2])
elseif owner ~= ARGV[1] or redis.call('HGET', KEYS[1], 'session') ~= ARGV[2] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
if #ARGV > 5 then
  for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[5]))
end
return 1`;

// KEYS[1] lease. ARGV: node, session.
const RELEASE = `
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] and redis.call('HGET', KEYS[1], 'session') == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface LeaseOptions {
  prefix: string;
  nodeId: string;
  /** This node's internal base URL, where the others proxy its streams (known once it listens). */
  address: () => string;
  /** A lease not renewed for this long expires (the owner died). */
  ttlMs?: number;
  /** How long a stream's HLS continuation outlives its last owner. */
  continuationTtlMs?: number;
}

interface Held {
  streamId: string;
  session: string;
  /** Where the stream's HLS timeline stands now (read at each renewal). */
  continuation?: () => Record<string, HlsContinuation>;
  /** The lease was lost (another node holds it now): end the local session. */
  lost: () => void;
}

export type LeaseResult =
  | { ok: true; release: () => void; continuation: Record<string, HlsContinuation> }
  | { ok: false; owner: StreamOwner };

export class StreamLeases {
  readonly ttlMs: number;
  private readonly continuationTtlMs: number;
  private readonly held = new Map<string, Held>(); // stream id -> held lease
  private readonly timer: NodeJS.Timeout;
  private readonly ownerCache = new Map<string, { owner?: StreamOwner; until: number }>();
  private readonly releasing = new Set<Promise<void>>();

  constructor(private readonly redis: Redis, private readonly opts: LeaseOptions) {
    this.ttlMs = opts.ttlMs ?? 5000;
    this.continuationTtlMs = opts.continuationTtlMs ?? 3_600_000;
    redis.defineCommand("wharfLeaseAcquire", { numberOfKeys: 1, lua: ACQUIRE });
    redis.defineCommand("wharfLeaseRenew", { numberOfKeys: 2, lua: RENEW });
    redis.defineCommand("wharfLeaseRelease", { numberOfKeys: 1, lua: RELEASE });
    this.timer = setInterval(() => void this.renewAll(), Math.max(250, Math.floor(this.ttlMs / 4)));
    this.timer.unref();
  }

  private key(streamId: string): string {
    return `${this.opts.prefix}lease:${streamId}`;
  }

  private continuationKey(streamId: string): string {
    return `${this.opts.prefix}hls:${streamId}`;
  }

  private run(cmd: string, ...args: Array<string | number>): Promise<unknown> {
    return (this.redis as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[cmd]!(...args);
  }

  /**
   * Takes the lease on a stream for a publisher session of this node, or says which node holds it.
   * `lost` runs when a renewal finds the lease in another node's hands.
   */
  async acquire(streamId: string, session: string, lost: () => void): Promise<LeaseResult> {
    const r = (await this.run("wharfLeaseAcquire", this.key(streamId), this.opts.nodeId, this.opts.address(), session, this.ttlMs)) as Array<number | string>;
    if (r[0] !== 1) return { ok: false, owner: { nodeId: String(r[1]), address: String(r[2]) } };
    this.ownerCache.delete(streamId);
    const held: Held = { streamId, session, lost };
    this.held.set(streamId, held);
    const raw = await this.redis.hgetall(this.continuationKey(streamId)).catch(() => ({}) as Record<string, string>);
    // Written at every renewal: a node that died may have started one more segment since its last
    // one, so that number is skipped (a gap in sequence numbers is harmless, a reused one is not).
    const margin = raw[FINAL] === "1" ? 0 : 1;
    const continuation: Record<string, HlsContinuation> = {};
    for (const [rendition, v] of Object.entries(raw)) {
      if (rendition === FINAL) continue;
      const [nextMsn, discontinuities] = v.split(":").map(Number);
      if (Number.isSafeInteger(nextMsn) && Number.isSafeInteger(discontinuities)) continuation[rendition] = { nextMsn: nextMsn! + margin, discontinuities: discontinuities! };
    }
    let released = false;
    return {
      ok: true,
      continuation,
      release: () => {
        if (released) return;
        released = true;
        if (this.held.get(streamId) !== held) return;
        // The timeline as it ends here, so the next owner continues from it.
        const done: Promise<void> = this.renew(held, true)
          .then(() => {
            if (this.held.get(streamId) === held) this.held.delete(streamId);
            return this.run("wharfLeaseRelease", this.key(streamId), this.opts.nodeId, session);
          })
          .then(() => undefined, () => undefined) // unreachable Redis: the lease expires
          .finally(() => this.releasing.delete(done));
        this.releasing.add(done);
      },
    };
  }

  /** Tells the renewals where the stream's HLS timeline stands (set once its packager exists). */
  track(streamId: string, continuation: () => Record<string, HlsContinuation>): void {
    const h = this.held.get(streamId);
    if (h) h.continuation = continuation;
  }

  /** The node holding a stream's lease (another node or this one), cached briefly; undefined when none. */
  async owner(streamId: string): Promise<StreamOwner | undefined> {
    if (this.held.has(streamId)) return { nodeId: this.opts.nodeId, address: this.opts.address() };
    const now = Date.now();
    const c = this.ownerCache.get(streamId);
    if (c && c.until > now) return c.owner;
    const [node, address] = await this.redis.hmget(this.key(streamId), "node", "address");
    const owner = node && address ? { nodeId: node, address } : undefined;
    if (this.ownerCache.size > 10_000) this.ownerCache.clear();
    // A known owner is trusted for a second; no owner is rechecked sooner (a publisher may arrive).
    this.ownerCache.set(streamId, { owner, until: now + (owner ? 1000 : 250) });
    return owner;
  }

  /** The nodes other than this one holding leases on these streams (one Redis round trip). */
  async elsewhere(streamIds: string[]): Promise<Map<string, StreamOwner>> {
    const out = new Map<string, StreamOwner>();
    const ids = streamIds.filter((id) => !this.held.has(id));
    if (ids.length === 0) return out;
    const batch = this.redis.pipeline();
    for (const id of ids) batch.hmget(this.key(id), "node", "address");
    const answers = (await batch.exec()) ?? [];
    answers.forEach(([err, v], i) => {
      const [node, address] = (v ?? []) as Array<string | null>;
      if (!err && node && address && node !== this.opts.nodeId) out.set(ids[i]!, { nodeId: node, address });
    });
    return out;
  }

  /** Forget a cached owner (it did not answer). */
  forget(streamId: string): void {
    this.ownerCache.delete(streamId);
  }

  /** Stream ids whose lease this node holds. */
  heldStreams(): string[] {
    return [...this.held.keys()];
  }

  private async renew(h: Held, final = false): Promise<void> {
    // "Exact" only when this session's own numbers are written with it (a refused admission has none).
    const fields: Array<string | number> = [FINAL, final && h.continuation ? "1" : "0"];
    try {
      for (const [rendition, c] of Object.entries(h.continuation?.() ?? {})) fields.push(rendition, `${c.nextMsn}:${c.discontinuities}`);
    } catch (err) {
      log.warn({ stream: h.streamId, err: (err as Error).message }, "could not read the HLS continuation");
    }
    const ok = await this.run("wharfLeaseRenew", this.key(h.streamId), this.continuationKey(h.streamId), this.opts.nodeId, h.session, this.opts.address(), this.ttlMs, this.continuationTtlMs, ...fields).catch(() => undefined);
    if (ok === 0 && this.held.get(h.streamId) === h) {
      // Expired (Redis unreachable longer than the TTL) and possibly taken: this node must stop.
      this.held.delete(h.streamId);
      log.warn({ stream: h.streamId }, "stream lease lost: ending the local session");
      h.lost();
    }
  }

  private async renewAll(): Promise<void> {
    await Promise.all([...this.held.values()].map((h) => this.renew(h)));
  }

  /** Stops renewing; waits (briefly) for the releases under way, so the next owner need not wait for expiry. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.race([Promise.all(this.releasing), new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}
