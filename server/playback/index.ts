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
  if (!(opts.accounts.storage instanceof SqliteStorage)) throw new Error("signed playback needs the SQLite accounts database (signing keys live there)");
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
