// Cluster mode: PostgreSQL storage, Redis limits and change notifications shared by every node (docs/cluster.md).
import { Redis } from "ioredis";
import { randomBytes } from "node:crypto";
import { moduleLogger } from "../../core/log.ts";
import type { Accounts } from "../accounts/accounts.ts";
import { PostgresStorage } from "../accounts/postgres.ts";
import { ClusterLimits } from "./redis-limits.ts";

const log = moduleLogger("cluster");

/** How often a node checks that PostgreSQL still answers (readiness, refusing new work). */
const DATABASE_PING_INTERVAL_MS = 1000;

type Change = { from: string; type: "keyRevoked"; keyId: string } | { from: string; type: "keyChanged"; keyId: string } | { from: string; type: "streamDeleted"; streamId: string; ownerKeyId: string };

export interface ClusterOptions {
  databaseUrl: string;
  redisUrl: string;
  clusterName: string;
}

export class Cluster {
  readonly nodeId = `node_${randomBytes(6).toString("hex")}`;
  readonly prefix: string;
  databaseReachable = true;
  private readonly pingTimer: NodeJS.Timeout;

  private constructor(
    readonly storage: PostgresStorage,
    readonly redis: Redis,
    private readonly subscriber: Redis,
    readonly limits: ClusterLimits,
    prefix: string,
  ) {
    this.prefix = prefix;
    this.pingTimer = setInterval(() => {
      storage.ping().then(
        () => (this.databaseReachable = true),
        (err: Error) => {
          if (this.databaseReachable) log.error({ err: err.message }, "PostgreSQL unreachable: refusing new work until it answers");
          this.databaseReachable = false;
        },
      );
    }, DATABASE_PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    if (!opts.redisUrl) throw new Error("databaseUrl (WHARF_DATABASE_URL) needs redisUrl (WHARF_REDIS_URL): the nodes share limits and notifications through Redis");
    const prefix = `${opts.clusterName}:`;
    // Fail fast instead of queueing while Redis is away: a node that cannot reach it refuses work.
    const redisOpts = { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true, connectTimeout: 3000 };
    const redis = new Redis(opts.redisUrl, redisOpts);
    const subscriber = new Redis(opts.redisUrl, { ...redisOpts, enableOfflineQueue: true });
    for (const r of [redis, subscriber]) r.on("error", (err: Error) => log.warn({ err: err.message }, "redis"));
    await Promise.all([redis.connect(), subscriber.connect()]).catch((err: Error) => {
      redis.disconnect();
      subscriber.disconnect();
      throw new Error(`redisUrl: cannot reach Redis: ${err.message}`);
    });
    const storage = await PostgresStorage.open(opts.databaseUrl).catch((err: Error) => {
      redis.disconnect();
      subscriber.disconnect();
      throw new Error(`databaseUrl: cannot open PostgreSQL: ${err.message}`);
    });
    return new Cluster(storage, redis, subscriber, new ClusterLimits(redis, { prefix }), prefix);
  }

  get redisReachable(): boolean {
    return this.redis.status === "ready";
  }

  /** Why this node refuses new work now, or undefined when both shared stores answer. */
  unavailable(): string | undefined {
    if (!this.redisReachable) return "this node cannot reach Redis (cluster limits and notifications): refusing new work";
    if (!this.databaseReachable) return "this node cannot reach PostgreSQL (accounts and usage ledger): refusing new work";
    return undefined;
  }

  /**
   * Carries key revocations, key changes and stream deletions to every other node (Redis
   * pub/sub), where Accounts emits them as if they had happened there.
   */
  async relay(accounts: Accounts): Promise<void> {
    const channel = `${this.prefix}changes`;
    const publish = (c: Change) => void this.redis.publish(channel, JSON.stringify(c)).catch((err: Error) => log.error({ err: err.message }, "could not publish a change"));
    accounts.on("keyRevoked", (keyId) => !accounts.applyingRemote && publish({ from: this.nodeId, type: "keyRevoked", keyId }));
    accounts.on("keyLimitsChanged", (keyId) => !accounts.applyingRemote && publish({ from: this.nodeId, type: "keyChanged", keyId }));
    accounts.on("streamDeleted", (streamId, ownerKeyId) => !accounts.applyingRemote && publish({ from: this.nodeId, type: "streamDeleted", streamId, ownerKeyId }));
    this.subscriber.on("message", (_ch: string, text: string) => {
      let c: Change;
      try {
        c = JSON.parse(text) as Change;
      } catch {
        return;
      }
      if (c.from === this.nodeId) return;
      void accounts.applyRemoteChange(c).catch((err: Error) => log.error({ err: err.message }, "could not apply a change from another node"));
    });
    await this.subscriber.subscribe(channel);
  }

  async stop(): Promise<void> {
    clearInterval(this.pingTimer);
    this.limits.stop();
    this.subscriber.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/**
 * Sends key changes made outside the nodes (the operator CLI on PostgreSQL) to every node, on the
 * channel relay() listens to: the nodes apply them as if another node had made them.
 */
export async function publishKeyChanges(redisUrl: string, clusterName: string, changes: ReadonlyArray<{ type: "keyRevoked" | "keyChanged"; keyId: string }>): Promise<void> {
  if (!changes.length) return;
  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on("error", () => undefined); // the connect or publish rejects with it
  try {
    await redis.connect();
    for (const c of changes) await redis.publish(`${clusterName}:changes`, JSON.stringify({ from: "cli", ...c } satisfies Change));
  } finally {
    redis.disconnect();
  }
}
