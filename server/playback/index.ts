// Signed playback: the signing keys (accounts database, /v1/signing-keys) and the policy hook on
// the media URLs (server/api/playback-auth.ts).
import type { FastifyInstance, preHandlerHookHandler } from "fastify";
import type { Accounts } from "../accounts/index.ts";
import { SqliteStorage } from "../accounts/sqlite.ts";
import { registerPlaybackAuth } from "../api/playback-auth.ts";
import type { StreamCatalog } from "../streams/catalog.ts";
import { registerSigningKeyRoutes } from "./routes.ts";
import { SigningKeys } from "./signing-keys.ts";

export interface SignedPlaybackOptions {
  accounts: Accounts;
  store: StreamCatalog;
  /** Who may manage signing keys (streams scope: a key manages its own, an admin all). */
  preHandler: preHandlerHookHandler;
}

/** Registers before the media routes: the hook must see their requests. */
export function startSignedPlayback(app: FastifyInstance, opts: SignedPlaybackOptions): void {
  if (!(opts.accounts.storage instanceof SqliteStorage)) {
    // Cluster mode (databaseUrl): no signing-key tables in PostgreSQL yet. Fail closed: a jwt
    // stream's media is refused rather than served without its check.
    const reason = "signed playback needs the SQLite accounts database (databaseUrl is set): jwt streams cannot be played";
    app.all("/v1/signing-keys*", { schema: { hide: true } }, async (_req, reply) => reply.code(501).send({ error: "not_implemented", message: reason }));
    registerPlaybackAuth(app, { getStream: (id) => opts.store.get(id), checkToken: async () => ({ ok: false, status: 403, reason }) });
    return;
  }
  const keys = new SigningKeys(opts.accounts.storage.db);
  registerSigningKeyRoutes(app, {
    keys,
    preHandler: opts.preHandler,
    audit: (by, action, target) => void opts.accounts.audit({ ...by, action, target }).catch(() => undefined),
  });
  registerPlaybackAuth(app, {
    getStream: (id) => opts.store.get(id),
    checkToken: (token, stream) => keys.check(token, { id: stream.id, ownerKeyId: stream.ownerKeyId ?? null }),
  });
}
