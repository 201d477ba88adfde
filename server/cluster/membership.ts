// Membership: each node writes a heartbeat (its address, version, load and live streams) to Redis
// with a TTL; `GET /v1/cluster` (admin) lists the nodes whose heartbeat is current. Without Redis
// (one node) the route answers with this node alone.
import type { FastifyInstance, preHandlerHookHandler } from "fastify";
import type { Redis } from "ioredis";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { moduleLogger } from "../../core/log.ts";

const log = moduleLogger("cluster-membership");

/** POST paths of batch AI work (counted as in-flight AI while their answer is open). */
const AI_PATH = /^\/(text-to-image|image-to-image|image-to-video|upscale|audio-to-text|segment-anything-2|llm|image-to-text|text-to-speech)(\/|\?|$)/;

export interface NodeView {
  id: string;
  address: string;
  version: string;
  startedAt: string;
  lastHeartbeat: string;
  load: { liveStreams: number; cpuPercent: number; rssBytes: number; aiInFlight: number };
  streams: string[];
}

export interface MembershipOptions {
  nodeId: string;
  address: () => string;
  /** Redis and key prefix in cluster mode; absent on a single node. */
  redis?: Redis;
  prefix?: string;
  /** Ids of the streams live on this node. */
  liveStreams: () => string[];
  heartbeatMs?: number;
  /** A node whose heartbeat is older than this is gone. */
  ttlMs?: number;
  rootDir: string;
}

export class Membership {
  private readonly startedAt = new Date().toISOString();
  private readonly version: string;
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private readonly timer?: NodeJS.Timeout;
  private aiInFlight = 0;
  private cpu = { usage: process.cpuUsage(), at: process.hrtime.bigint(), percent: 0 };

  constructor(private readonly opts: MembershipOptions) {
    this.heartbeatMs = opts.heartbeatMs ?? 2000;
    this.ttlMs = opts.ttlMs ?? 3 * this.heartbeatMs;
    let version = "unknown";
    try {
      version = (JSON.parse(readFileSync(join(opts.rootDir, "package.json"), "utf8")) as { version?: string }).version ?? version;
    } catch {
      /* the image may lack it: "unknown" */
    }
    this.version = version;
    if (opts.redis) {
      void this.beat();
      this.timer = setInterval(() => void this.beat(), this.heartbeatMs);
      this.timer.unref();
    }
  }

  private get nodesKey(): string {
    return `${this.opts.prefix}nodes`;
  }

  private nodeKey(id: string): string {
    return `${this.opts.prefix}node:${id}`;
  }

  /** CPU of this process since the last reading, in percent of one core. */
  private cpuPercent(): number {
    const now = process.hrtime.bigint();
    const elapsedUs = Number(now - this.cpu.at) / 1000;
    if (elapsedUs >= 500_000) {
      const d = process.cpuUsage(this.cpu.usage);
      this.cpu = { usage: process.cpuUsage(), at: now, percent: Math.round(((d.user + d.system) / elapsedUs) * 1000) / 10 };
    }
    return this.cpu.percent;
  }

  /** This node as the others see it. */
  self(): NodeView {
    const streams = this.opts.liveStreams();
    return {
      id: this.opts.nodeId,
      address: this.opts.address(),
      version: this.version,
      startedAt: this.startedAt,
      lastHeartbeat: new Date().toISOString(),
      load: { liveStreams: streams.length, cpuPercent: this.cpuPercent(), rssBytes: process.memoryUsage.rss(), aiInFlight: this.aiInFlight },
      streams,
    };
  }

  private async beat(): Promise<void> {
    const redis = this.opts.redis!;
    try {
      await redis.multi().set(this.nodeKey(this.opts.nodeId), JSON.stringify(this.self()), "PX", this.ttlMs).zadd(this.nodesKey, Date.now(), this.opts.nodeId).exec();
    } catch (err) {
      log.warn({ err: (err as Error).message }, "heartbeat failed");
    }
  }

  /** The nodes with a current heartbeat, this one first. */
  async nodes(): Promise<NodeView[]> {
    const redis = this.opts.redis;
    if (!redis) return [this.self()];
    // Ids not heard from for an hour are dropped from the index.
    await redis.zremrangebyscore(this.nodesKey, "-inf", Date.now() - 3_600_000);
    const ids = await redis.zrange(this.nodesKey, 0, -1);
    const texts = ids.length ? await redis.mget(...ids.map((id) => this.nodeKey(id))) : [];
    const others: NodeView[] = [];
    for (const t of texts) {
      if (!t) continue;
      try {
        const n = JSON.parse(t) as NodeView;
        if (n.id !== this.opts.nodeId) others.push(n);
      } catch {
        /* not ours */
      }
    }
    others.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
    return [this.self(), ...others];
  }

  /** `GET /v1/cluster` and the in-flight AI counter. */
  register(app: FastifyInstance, preHandler: preHandlerHookHandler): void {
    // A callback hook (not async): it runs on every request, and an async one costs a promise each.
    app.addHook("onRequest", (req, reply, done) => {
      reply.header("x-wharf-node", this.opts.nodeId); // which node answered (behind a load balancer)
      if (req.method === "POST" && AI_PATH.test(req.url)) {
        this.aiInFlight++;
        reply.raw.once("close", () => this.aiInFlight--);
      }
      done();
    });
    app.get("/v1/cluster", { preHandler, schema: { summary: "The nodes of this cluster, their load and their live streams", tags: ["admin"] } }, async (_req, reply) => {
      try {
        const nodes = await this.nodes();
        return { mode: this.opts.redis ? "cluster" : "single", self: this.opts.nodeId, nodes };
      } catch (err) {
        return reply.code(503).send({ error: "Service Unavailable", message: `cannot read the cluster's members from Redis: ${(err as Error).message}` });
      }
    });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    // Leaving on purpose: drop the heartbeat at once instead of waiting for its TTL.
    await this.opts.redis?.multi().del(this.nodeKey(this.opts.nodeId)).zrem(this.nodesKey, this.opts.nodeId).exec().catch(() => {});
  }
}
