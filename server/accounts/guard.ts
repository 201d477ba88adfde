// Fastify preHandler factory: bearer authentication, scope and IP checks, per-key rate limit.
//
//   const guard = createGuard(accounts);
//   app.get("/v1/streams", { preHandler: guard.requireScope("streams") }, handler);
//   // handler: request.apiKey is the authenticated key
//
// 401 (+ WWW-Authenticate: Bearer) for a missing/unknown/revoked key, 403 for a
// missing scope or an address outside the key's allowlist, 429 (+ Retry-After)
// when the key's token bucket is empty. Bodies are {"error", "message"} unless
// `formatError` is given (e.g. the Livepeer SDK shape {"detail": {"msg"}} for batch AI routes).
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from "fastify";
import type { AuthResult, RequiredScope } from "./auth.ts";
import type { RateDecision } from "./ratelimit.ts";
import type { ApiKey } from "./types.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the accounts guard once the request is authenticated. */
    apiKey?: ApiKey;
  }
}

export interface GuardServices {
  authenticate(secret: string | undefined | null, remoteIp: string | undefined, scope: RequiredScope): AuthResult | Promise<AuthResult>;
  checkRateLimit(key: Pick<ApiKey, "id" | "rateLimit">, cost?: number): RateDecision | Promise<RateDecision>;
}

export interface GuardOptions {
  /** Response body for an error; default {error, message}. */
  formatError?: (status: number, error: string, message: string) => unknown;
  /** Set X-RateLimit-Limit / X-RateLimit-Remaining on allowed requests (default true). */
  rateLimitHeaders?: boolean;
}

export interface Guard {
  /** preHandler that authenticates, checks `scope` ("any" = any valid key) and takes one token from the key's bucket. */
  requireScope(scope: RequiredScope, opts?: { rateLimit?: boolean }): preHandlerAsyncHookHandler;
  /**
   * The same checks as a function, for code that is not a fastify route (e.g. a WHIP handler).
   * The verdict is given at once (no promise) when the key is cached and its limit is local.
   */
  check(request: GuardRequest, scope: RequiredScope, opts?: { rateLimit?: boolean }): GuardResult | Promise<GuardResult>;
  /**
   * The same checks on a plain Node request, for a path served ahead of fastify
   * (server/api/fast-lane.ts). The result stays on the request: when it is handed on to fastify
   * after all (to send a refusal in fastify's shape), this guard's preHandler for the same scope
   * takes it instead of checking again (no second rate-limit token, no second audit entry).
   */
  checkRaw(request: IncomingMessage, scope: RequiredScope): GuardResult | Promise<GuardResult>;
}

/** What the checks read of a request (fastify's, or a plain Node one's: see checkRaw). */
export interface GuardRequest {
  headers: IncomingHttpHeaders;
  ip: string | undefined;
}

const CHECKED = Symbol("wharf.guard.checked");
type CheckedRequest = IncomingMessage & { [CHECKED]?: { scope: RequiredScope; result: GuardResult } };

export type GuardResult =
  | { ok: true; key: ApiKey; remaining?: number; limit?: number }
  | { ok: false; status: 401 | 403 | 429; error: string; message: string; headers: Record<string, string> };

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return undefined;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : undefined;
}

export function createGuard(services: GuardServices, options: GuardOptions = {}): Guard {
  const format = options.formatError ?? ((_s: number, error: string, message: string) => ({ error, message }));
  const rlHeaders = options.rateLimitHeaders ?? true;

  function check(request: GuardRequest, scope: RequiredScope, opts: { rateLimit?: boolean } = {}): GuardResult | Promise<GuardResult> {
    const header = request.headers.authorization;
    const token = bearerToken(header);
    if (header && !token) {
      return { ok: false, status: 401, error: "unauthorized", message: "Authorization header must be \"Bearer <key>\"", headers: { "www-authenticate": 'Bearer realm="wharf", error="invalid_request"' } };
    }
    const r = services.authenticate(token, request.ip, scope);
    return r instanceof Promise ? r.then((a) => authenticated(a, token, opts)) : authenticated(r, token, opts);
  }

  function authenticated(r: AuthResult, token: string | undefined, opts: { rateLimit?: boolean }): GuardResult | Promise<GuardResult> {
    if (!r.ok) {
      const headers: Record<string, string> = {};
      if (r.status === 401) headers["www-authenticate"] = token ? 'Bearer realm="wharf", error="invalid_token"' : 'Bearer realm="wharf"';
      return { ok: false, status: r.status, error: r.error, message: r.message, headers };
    }
    if (opts.rateLimit === false) return { ok: true, key: r.key };
    const d = services.checkRateLimit(r.key);
    return d instanceof Promise ? d.then((x) => limited(r.key, x)) : limited(r.key, d);
  }

  function limited(key: ApiKey, d: RateDecision): GuardResult {
    if (!d.ok) {
      return {
        ok: false, status: 429, error: "rate_limited",
        message: `rate limit of ${d.limit} requests per minute exceeded; retry in ${d.retryAfterSeconds} s`,
        headers: { "retry-after": String(d.retryAfterSeconds) },
      };
    }
    return { ok: true, key, remaining: d.remaining, limit: d.limit };
  }

  function requireScope(scope: RequiredScope, opts: { rateLimit?: boolean } = {}): preHandlerAsyncHookHandler {
    return async function accountsGuard(request: FastifyRequest, reply: FastifyReply) {
      const raw = request.raw as CheckedRequest;
      const pre = raw[CHECKED];
      if (pre) raw[CHECKED] = undefined;
      const r = pre && pre.scope === scope && opts.rateLimit !== false ? pre.result : await check(request, scope, opts);
      if (!r.ok) {
        reply.code(r.status).headers(r.headers);
        return reply.send(format(r.status, r.error, r.message));
      }
      request.apiKey = r.key;
      if (rlHeaders && r.limit !== undefined && Number.isFinite(r.limit)) {
        reply.header("x-ratelimit-limit", String(r.limit));
        reply.header("x-ratelimit-remaining", String(r.remaining));
      }
    };
  }

  function checkRaw(request: IncomingMessage, scope: RequiredScope): GuardResult | Promise<GuardResult> {
    const keep = (result: GuardResult): GuardResult => {
      (request as CheckedRequest)[CHECKED] = { scope, result };
      return result;
    };
    const r = check({ headers: request.headers, ip: request.socket.remoteAddress }, scope);
    return r instanceof Promise ? r.then(keep) : keep(r);
  }

  return { requireScope, check, checkRaw };
}
