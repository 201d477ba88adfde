// Wires the scale-out pieces into a gateway: membership and `GET /v1/cluster` always (one node
// without Redis), and in cluster mode the stream leases (admission), the HLS continuation of a
// stream taken over from a dead node, and the proxy to a stream's or result's owner.
import { randomBytes, randomUUID } from "node:crypto";
import type { FastifyInstance, preHandlerHookHandler } from "fastify";
import type { StreamHub } from "../../media/hub/hub.ts";
import type { HlsService } from "../../media/hls/service.ts";
import type { Cluster } from "./cluster.ts";
import { Membership } from "./membership.ts";
import { registerOwnerProxy } from "./owner-proxy.ts";
import { StreamLeases, type HlsContinuation } from "./ownership.ts";
import { moduleLogger } from "../../core/log.ts";

const log = moduleLogger("cluster");

/** What the scale-out needs of the stream catalog (server/streams/catalog.ts) in cluster mode. */
export interface SharedCatalog {
  get(id: string): unknown;
  refresh(id: string): Promise<unknown>;
  refreshAll(): Promise<void>;
}

const STREAM_PATH = /^\/v1\/streams(?:\/([A-Za-z0-9_-]{1,64})(\/[^?]*)?)?(?:\?.*)?$/;
const MEDIA_SUBPATH = /^\/(hls\/|whep$|whip$|thumbnail\.jpg$)/;

export interface ScaleOutDeps {
  app: FastifyInstance;
  catalog: SharedCatalog;
  hub: StreamHub;
  hls: HlsService;
  cluster?: Cluster;
  /** This node's internal base URL (settings nodeAddress, else its own listening address). */
  address: () => string;
  adminGuard: preHandlerHookHandler;
  rootDir: string;
  resultTtlSec: number;
  leaseTtlMs?: number;
}

export interface ScaleOut {
  nodeId: string;
  leases?: StreamLeases;
  stop(): Promise<void>;
}

/** Call before the routes it proxies are registered (its onRequest hook must run first). */
export function startScaleOut(d: ScaleOutDeps): ScaleOut {
  const nodeId = d.cluster?.nodeId ?? `node_${randomBytes(6).toString("hex")}`;
  const liveIds = () => d.hub.liveStreams().map((s) => s.id);
  const membership = new Membership({ nodeId, address: d.address, redis: d.cluster?.redis, prefix: d.cluster?.prefix, liveStreams: liveIds, rootDir: d.rootDir });
  membership.register(d.app, d.adminGuard);
  const cluster = d.cluster;
  if (!cluster) return { nodeId, stop: () => membership.stop() };

  const leases = new StreamLeases(cluster.redis, { prefix: cluster.prefix, nodeId, address: d.address, ttlMs: d.leaseTtlMs });
  const continuations = new Map<string, Record<string, HlsContinuation>>();
  // One publisher per stream in the whole cluster: the lease is taken before any media is accepted.
  d.hub.addAdmissionCheck(async (stream) => {
    const lease = await leases.acquire(stream.id, randomUUID(), () => {
      stream.lastEndDetail = "another node took this stream's lease (this node lost Redis for longer than the lease)";
      d.hub.kick(stream.id, "kicked");
    });
    if (!lease.ok) return { status: 409, reason: `stream is already live on node ${lease.owner.nodeId}` };
    continuations.set(stream.id, lease.continuation);
    return { release: lease.release };
  });
  // Registered after the HLS service's own listener: the packager exists, no segment has arrived yet.
  d.hub.on("published", (stream) => {
    const packager = d.hls.ensure(stream);
    const c = continuations.get(stream.id);
    continuations.delete(stream.id);
    if (c && Object.keys(c).length > 0) packager.continueFrom(c);
    leases.track(stream.id, () => packager.continuation());
  });
  registerOwnerProxy(d.app, {
    nodeId, address: d.address, leases, redis: cluster.redis, prefix: cluster.prefix,
    isLocal: (id) => d.hub.get(id)?.live === true,
    blockingWaitMs: d.hls.blockingWaitMs + d.hls.firstSegmentWaitMs,
    resultTtlSec: d.resultTtlSec,
  });
  // Streams made or changed on another node: the API reads the database's record (media requests
  // only when the stream is unknown here; a stream live here has its current record).
  d.app.addHook("onRequest", async (req) => {
    const m = STREAM_PATH.exec(req.url);
    if (!m) return;
    const [, id, sub] = m;
    try {
      if (!id) {
        if (req.method === "GET") await d.catalog.refreshAll();
        return;
      }
      if ((MEDIA_SUBPATH.test(sub ?? "") && d.catalog.get(id)) || d.hub.get(id)?.live) return;
      await d.catalog.refresh(id);
    } catch (err) {
      log.warn({ err: (err as Error).message }, "could not read a stream from the database: answering from this node's cache");
    }
  });
  return {
    nodeId,
    leases,
    async stop() {
      await leases.stop();
      await membership.stop();
    },
  };
}
