// Signed playback: the signing keys (accounts database: SQLite on one node, PostgreSQL in cluster
// mode; /v1/signing-keys) and the policy hook on the media URLs (server/api/playback-auth.ts).
import type { FastifyInstance, preHandlerHookHandler } from "fastify";
import type { Accounts } from "../accounts/index.ts";
import { PostgresStorage } from "../accounts/postgres.ts";
import { SqliteStorage } from "../accounts/sqlite.ts";
import { registerPlaybackAuth } from "../api/playback-auth.ts";
import type { StreamCatalog } from "../streams/catalog.ts";
import { PostgresSigningKeyStore } from "./postgres-signing-keys.ts";
import { registerSigningKeyRoutes } from "./routes.ts";
import { SigningKeys, SqliteSigningKeyStore } from "./signing-keys.ts";

/**
 * Cluster mode: keys created or deleted on another node are seen within this (a token naming a
 * key not seen yet re-reads at once).
 */
export const CLUSTER_KEYS_MAX_AGE_MS = 1000;

export interface SignedPlaybackOptions {
  accounts: Accounts;
  store: StreamCatalog;
  /** Who may manage signing keys (streams scope: a key manages its own, an admin all). */
  preHandler: preHandlerHookHandler;
}

function signingKeys(accounts: Accounts): SigningKeys {
  const storage = accounts.storage;
  if (storage instanceof SqliteStorage) return new SigningKeys(new SqliteSigningKeyStore(storage.db));
  if (storage instanceof PostgresStorage) return new SigningKeys(new PostgresSigningKeyStore(storage.sql), { maxAgeMs: CLUSTER_KEYS_MAX_AGE_MS });
  throw new Error("signed playback: unknown accounts storage (neither SQLite nor PostgreSQL)");
}

/** Registers before the media routes: the hook must see their requests. */
export function startSignedPlayback(app: FastifyInstance, opts: SignedPlaybackOptions): void {
  const keys = signingKeys(opts.accounts);
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
