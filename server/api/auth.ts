// Who is calling: the authenticator turns a Bearer token into a principal with scopes.
// The bootstrap authenticator knows only the admin key; the accounts module supplies
// the real one (API keys, IP allowlists, rate limits).
import { timingSafeEqual, createHash } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";

export type Scope = "admin" | "streams" | "ai";

export interface Principal {
  /** API key id; undefined for the bootstrap admin key. */
  keyId?: string;
  name: string;
  scopes: Scope[];
}

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export type PreHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface Authenticator {
  requireScope(scope: Scope): PreHandler;
}

export function bearerToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m?.[1]?.trim();
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Only the admin key is accepted, with every scope. */
export function adminKeyAuthenticator(adminKey: string): Authenticator {
  return {
    requireScope() {
      return async (req, reply) => {
        const token = bearerToken(req);
        if (!token) {
          reply.header("www-authenticate", "Bearer");
          return reply.code(401).send({ error: "Unauthorized", message: "missing Authorization: Bearer <api key>" });
        }
        if (!sameSecret(token, adminKey)) {
          reply.header("www-authenticate", 'Bearer error="invalid_token"');
          return reply.code(401).send({ error: "Unauthorized", message: "invalid API key" });
        }
        req.principal = { name: "admin", scopes: ["admin", "streams", "ai"] };
      };
    },
  };
}
