// Who is calling: a preHandler per scope that authenticates the Bearer API key (hashed
// lookup, IP allowlist, scope) and applies the key's rate limit. Backed by server/accounts.
import type { IncomingMessage } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Accounts, Scope } from "../accounts/index.ts";
import { createGuard, type GuardResult } from "../accounts/guard.ts";

export type { Scope };
export type PreHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** How a refusal (401/403/429) is written; default Wharf's `{"error","message"}`. */
export type RefusalFormat = (status: number, error: string, message: string) => unknown;

export interface Authenticator {
  requireScope(scope: Scope | "any", format?: RefusalFormat): PreHandler;
  /** The same checks on a plain Node request (a path served ahead of fastify); see Guard.checkRaw. */
  checkRaw(req: IncomingMessage, scope: Scope | "any"): GuardResult | Promise<GuardResult>;
}

export function accountsAuthenticator(accounts: Accounts): Authenticator {
  const guard = createGuard(accounts);
  return {
    requireScope: (scope, format) => (format ? createGuard(accounts, { formatError: format }) : guard).requireScope(scope) as PreHandler,
    checkRaw: (req, scope) => guard.checkRaw(req, scope),
  };
}

/** The caller's key id when it is not an admin (admins see everything). */
export function ownerFilter(req: FastifyRequest): string | undefined {
  const key = req.apiKey;
  return key && !key.scopes.includes("admin") ? key.id : undefined;
}

/** Audit actor for a request. */
export function actorOf(req: FastifyRequest): { actor: string; remoteIp: string } {
  return { actor: req.apiKey?.id ?? "anonymous", remoteIp: req.ip };
}
