// Any node answers for any stream: a request about a stream that is live on another node (HLS,
// WHEP, thumbnail, status, params) or for a batch AI result stored on another node is proxied to
// that node's internal address, its bytes streamed both ways. A proxied request carries
// `x-wharf-proxied-by` and is always answered where it lands, so a request is proxied at most once.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Redis } from "ioredis";
import { proxyHttp } from "../../core/reverse-proxy.ts";
import { moduleLogger } from "../../core/log.ts";
import type { StreamLeases, StreamOwner } from "./ownership.ts";

const log = moduleLogger("cluster-proxy");

export const PROXIED_HEADER = "x-wharf-proxied-by";

/** Connecting to the owner and getting its answer's head: a live owner answers within this. */
const HEAD_TIMEOUT_MS = 5000;

const STREAM = /^\/v1\/streams\/([A-Za-z0-9_-]{1,64})(?:\/(hls\/[^?]*|whep|thumbnail\.jpg|status|params))?(?:\?.*)?$/;
const LIVE_COMPAT = /^\/live\/video-to-video\/([A-Za-z0-9_-]{1,64})\/(status|update)(?:\?.*)?$/;
const RESULT = /^\/v1\/results\/([A-Za-z0-9_-]{43})(?:\?.*)?$/;
const AI_ANSWER = /^\/(text-to-image|image-to-image|image-to-video|upscale|audio-to-text|segment-anything-2|llm|image-to-text|text-to-speech)(\/|\?|$)/;
const RESULT_URL = /\/v1\/results\/([A-Za-z0-9_-]{43})/g;
const SESSION = /^\/v1\/(whip|whep)\/([A-Za-z0-9_-]{1,128})(?:\?.*)?$/;
const SESSION_CREATED = /^\/(?:v1\/streams\/[A-Za-z0-9_-]{1,64}\/(?:whip|whep)|live\/video-to-video\/[A-Za-z0-9_-]{1,64}\/whip)(?:\?.*)?$/;
/** A WHIP/WHEP session's owner is remembered this long (DELETE through any node). */
const SESSION_TTL_SEC = 24 * 3600;

type Target = { kind: "stream" | "result" | "session"; id: string };

/** Which requests follow a stream's owner: reads of its live state and changes it must apply. */
function target(method: string, url: string): Target | undefined {
  const read = method === "GET" || method === "HEAD";
  let m = STREAM.exec(url);
  if (m) {
    const sub = m[2];
    if (sub === undefined) return read || method === "PATCH" ? { kind: "stream", id: m[1]! } : undefined; // the stream's view carries its live state
    if (sub === "whep" || sub === "params") return method === "POST" ? { kind: "stream", id: m[1]! } : undefined;
    return read ? { kind: "stream", id: m[1]! } : undefined;
  }
  m = LIVE_COMPAT.exec(url);
  if (m) return (m[2] === "status" ? read : method === "POST") ? { kind: "stream", id: m[1]! } : undefined;
  m = RESULT.exec(url);
  if (m && read) return { kind: "result", id: m[1]! };
  m = SESSION.exec(url);
  if (m && method === "DELETE") return { kind: "session", id: `${m[1]}:${m[2]}` };
  return undefined;
}

export interface ForwardOptions {
  /** This node's id (the loop guard: the node that receives the request answers it). */
  self: string;
  owner: StreamOwner;
  /** Connecting and waiting for the answer's head: 5 s unless said. */
  headTimeoutMs?: number;
  /** The message of the 503 when the owner did not answer (why: the connection error or its status). */
  unavailable: (why: string) => string;
  onUnanswered?: () => void;
}

/**
 * Proxies one request to another node, bytes streamed both ways (never buffered), carrying the
 * loop guard header; an owner that does not answer gives a 503 JSON with `retry-after: 2`.
 */
export async function forwardToNode(req: FastifyRequest, reply: FastifyReply, o: ForwardOptions): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.setHeader("x-wharf-via", o.self); // merged into the owner's answer head
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  const outcome = await proxyHttp(req.method, req.headers, hasBody ? req.raw : undefined, res, {
    url: new URL(req.url, o.owner.address),
    headers: { [PROXIED_HEADER]: o.self, "x-forwarded-for": req.ip },
    headTimeoutMs: o.headTimeoutMs ?? HEAD_TIMEOUT_MS,
  });
  if (outcome.answered || outcome.error === "client went away") return;
  o.onUnanswered?.();
  log.warn({ owner: o.owner.nodeId, address: o.owner.address, err: outcome.error }, "the owner node did not answer a proxied request");
  if (res.headersSent || res.destroyed) return;
  unavailableAnswer(res, o.unavailable(outcome.error ?? `status ${outcome.status}`));
}

/** 503 JSON `{error, message}`, retry in 2 s, on a raw (hijacked) response. */
export function unavailableAnswer(res: FastifyReply["raw"], message: string): void {
  const body = JSON.stringify({ error: "Service Unavailable", message });
  res.writeHead(503, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), "retry-after": "2", "cache-control": "no-store" });
  res.end(body);
}

export interface OwnerProxyOptions {
  nodeId: string;
  address: () => string;
  leases: StreamLeases;
  redis: Redis;
  prefix: string;
  /** Whether the stream is live on this node (answered here without asking Redis). */
  isLocal: (streamId: string) => boolean;
  /** A blocking playlist reload may be held this long by the owner. */
  blockingWaitMs: number;
  /** How long batch AI results are kept (their owner is remembered as long). */
  resultTtlSec: number;
}

export function registerOwnerProxy(app: FastifyInstance, opts: OwnerProxyOptions): void {
  const resultKey = (id: string) => `${opts.prefix}result:${id}`;
  const sessionKey = (id: string) => `${opts.prefix}session:${id}`;
  let lastRedisWarning = 0;

  app.addHook("onRequest", async (req, reply) => {
    if (req.headers[PROXIED_HEADER] !== undefined) return; // proxied once already: answered here
    const t = target(req.method, req.url);
    if (!t) return;
    if (t.kind === "stream" && opts.isLocal(t.id)) return;
    let owner: StreamOwner | undefined;
    try {
      owner = t.kind === "stream" ? await opts.leases.owner(t.id) : await storedOwner(t.kind === "result" ? resultKey(t.id) : sessionKey(t.id));
    } catch (err) {
      // Redis away: answer from what this node has (refusing new work is /readyz's and admission's job).
      if (Date.now() - lastRedisWarning > 10_000) {
        lastRedisWarning = Date.now();
        log.warn({ err: (err as Error).message }, "cannot read owners from Redis: answering locally");
      }
      return;
    }
    if (!owner || owner.nodeId === opts.nodeId) return;
    await forward(req, reply, t, owner);
  });

  async function storedOwner(key: string): Promise<StreamOwner | undefined> {
    const v = await opts.redis.get(key);
    if (!v) return undefined;
    const at = v.indexOf(" ");
    return { nodeId: v.slice(0, at), address: v.slice(at + 1) };
  }

  async function forward(req: FastifyRequest, reply: FastifyReply, t: Target, owner: StreamOwner): Promise<void> {
    // A playlist may wait for the first segment, a blocking reload or part request for the next one.
    const blocking = req.url.includes("/hls/");
    await forwardToNode(req, reply, {
      self: opts.nodeId,
      owner,
      headTimeoutMs: blocking ? opts.blockingWaitMs + HEAD_TIMEOUT_MS : HEAD_TIMEOUT_MS,
      onUnanswered: () => t.kind === "stream" && opts.leases.forget(t.id),
      unavailable: (why) =>
        `node ${owner.nodeId} (${owner.address}) holds ${t.kind} ${t.id} and did not answer (${why}); if it died, its lease expires within seconds and the publisher can reconnect through any node`,
    });
  }

  // A WHIP/WHEP session made here: its DELETE may arrive at any node.
  app.addHook("onSend", async (req, reply, payload) => {
    if (req.method !== "POST" || reply.statusCode !== 201 || !SESSION_CREATED.test(req.url)) return payload;
    const m = SESSION.exec(String(reply.getHeader("location") ?? ""));
    if (m) await opts.redis.set(sessionKey(`${m[1]}:${m[2]}`), `${opts.nodeId} ${opts.address()}`, "EX", SESSION_TTL_SEC).catch((err: Error) => log.warn({ err: err.message }, "could not record where a session lives"));
    return payload;
  });

  // A batch AI answer naming results stored here: every node learns where to fetch them from.
  app.addHook("onSend", async (req, reply, payload) => {
    if (req.method !== "POST" || reply.statusCode !== 200 || !AI_ANSWER.test(req.url)) return payload;
    const text = typeof payload === "string" ? payload : Buffer.isBuffer(payload) ? payload.toString("utf8") : undefined;
    if (!text || !text.includes("/v1/results/")) return payload;
    const ids = new Set([...text.matchAll(RESULT_URL)].map((m) => m[1]!));
    if (ids.size === 0) return payload;
    const batch = opts.redis.multi();
    for (const id of ids) batch.set(resultKey(id), `${opts.nodeId} ${opts.address()}`, "EX", Math.max(1, opts.resultTtlSec));
    await batch.exec().catch((err: Error) => log.warn({ err: err.message }, "could not record where results are stored"));
    return payload;
  });
}
