// Playback signing keys: ES256 key pairs whose private half the customer keeps (shown once) and
// whose public half Wharf stores to verify the playback JWTs of streams with playbackPolicy jwt.
// Stored in the accounts database: SQLite on one node (below), PostgreSQL in cluster mode
// (postgres-signing-keys.ts), so a key created on one node verifies on every node.
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importJWK, jwtVerify, errors as joseErrors, type CryptoKey, type JWK } from "jose";
import { v7 as uuidv7 } from "uuid";
import type { DB } from "../accounts/sqlite-schema.ts";

export interface SigningKey {
  id: string;
  ownerKeyId: string;
  /** Created by an admin key: its tokens are accepted for every stream. */
  ownerIsAdmin: boolean;
  publicJwk: JWK;
  publicPem: string;
  createdAt: number;
}

export interface CreatedSigningKey {
  key: SigningKey;
  privatePem: string;
  privateJwk: JWK;
}

interface Row { id: string; owner_key_id: string; owner_is_admin: number; public_jwk: string; public_pem: string; created_at: number }

/** Where the public halves are kept. */
export interface SigningKeyStore {
  insert(k: SigningKey): Promise<void>;
  list(ownerKeyId?: string): Promise<SigningKey[]>;
  get(id: string): Promise<SigningKey | undefined>;
  delete(id: string): Promise<boolean>;
}

const fromRow = (r: Row): SigningKey => ({
  id: r.id, ownerKeyId: r.owner_key_id, ownerIsAdmin: r.owner_is_admin === 1, publicJwk: JSON.parse(r.public_jwk) as JWK,
  publicPem: r.public_pem, createdAt: r.created_at,
});

/** Why a playback token was not accepted: 401 (no usable token) or 403 (a valid token, but not for this, or no longer). */
export type TokenCheck = { ok: true; keyId: string } | { ok: false; status: 401 | 403; reason: string };

/** One node: the signing_keys table of the SQLite accounts database. */
export class SqliteSigningKeyStore implements SigningKeyStore {
  constructor(private readonly db: DB) {}

  async insert(key: SigningKey): Promise<void> {
    this.db.prepare("INSERT INTO signing_keys (id, owner_key_id, owner_is_admin, public_jwk, public_pem, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(key.id, key.ownerKeyId, key.ownerIsAdmin ? 1 : 0, JSON.stringify(key.publicJwk), key.publicPem, key.createdAt);
  }

  async list(ownerKeyId?: string): Promise<SigningKey[]> {
    const rows = ownerKeyId === undefined
      ? this.db.prepare("SELECT * FROM signing_keys ORDER BY created_at, id").all()
      : this.db.prepare("SELECT * FROM signing_keys WHERE owner_key_id = ? ORDER BY created_at, id").all(ownerKeyId);
    return (rows as Row[]).map(fromRow);
  }

  async get(id: string): Promise<SigningKey | undefined> {
    const r = this.db.prepare("SELECT * FROM signing_keys WHERE id = ?").get(id) as Row | undefined;
    return r && fromRow(r);
  }

  async delete(id: string): Promise<boolean> {
    return this.db.prepare("DELETE FROM signing_keys WHERE id = ?").run(id).changes > 0;
  }
}

export interface SigningKeysOptions {
  /**
   * How long the verifying keys are trusted before being re-read (cluster mode: keys created or
   * deleted on another node are seen within this). Default: until this process changes them.
   */
  maxAgeMs?: number;
  now?: () => number;
}

/** A token naming a key this node has not loaded re-reads the keys, at most once per this. */
const UNKNOWN_KID_RELOAD_MS = 100;

export class SigningKeys {
  private verifiers: Array<{ key: SigningKey; publicKey: CryptoKey }> | undefined;
  private loadedAt = 0;
  private loading: Promise<Array<{ key: SigningKey; publicKey: CryptoKey }>> | undefined;
  private readonly now: () => number;

  constructor(private readonly store: SigningKeyStore, private readonly opts: SigningKeysOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  async create(ownerKeyId: string, ownerIsAdmin: boolean): Promise<CreatedSigningKey> {
    const id = "sk_" + uuidv7().replace(/-/g, "");
    const pair = await generateKeyPair("ES256", { extractable: true });
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: id, alg: "ES256", use: "sig" };
    const key: SigningKey = { id, ownerKeyId, ownerIsAdmin, publicJwk, publicPem: await exportSPKI(pair.publicKey), createdAt: Date.now() };
    await this.store.insert(key);
    this.verifiers = undefined;
    return { key, privatePem: await exportPKCS8(pair.privateKey), privateJwk: { ...(await exportJWK(pair.privateKey)), kid: id, alg: "ES256" } };
  }

  list(ownerKeyId?: string): Promise<SigningKey[]> {
    return this.store.list(ownerKeyId);
  }

  get(id: string): Promise<SigningKey | undefined> {
    return this.store.get(id);
  }

  async delete(id: string): Promise<boolean> {
    const deleted = await this.store.delete(id);
    this.verifiers = undefined;
    return deleted;
  }

  /**
   * Checks a playback JWT for a stream: ES256, signed by a key of the stream's owner (or an admin's
   * key), `sub` naming the stream, `exp` present and not passed. A token without a `kid` is tried
   * against each acceptable key.
   */
  async check(token: string, stream: { id: string; ownerKeyId: string | null }): Promise<TokenCheck> {
    let kid: string | undefined;
    try {
      const header = JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8")) as { kid?: unknown };
      kid = typeof header.kid === "string" ? header.kid : undefined;
    } catch {
      return { ok: false, status: 401, reason: "the playback token is not a JWT" };
    }
    let all = await this.loadVerifiers();
    // A key created on another node since the last read (cluster mode): read again, at most once per
    // UNKNOWN_KID_RELOAD_MS (tokens naming made-up keys cannot hammer the database; a real new key waits that long at most).
    if (kid && this.opts.maxAgeMs !== undefined && !all.some((v) => v.key.id === kid)) {
      const asked = this.now();
      const wait = this.loadedAt + UNKNOWN_KID_RELOAD_MS - asked;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.loadedAt <= asked) this.verifiers = undefined; // nobody read them again meanwhile
      all = await this.loadVerifiers();
    }
    const acceptable = all.filter((v) => v.key.ownerIsAdmin || v.key.ownerKeyId === stream.ownerKeyId);
    const candidates = kid ? acceptable.filter((v) => v.key.id === kid) : acceptable;
    if (!candidates.length) return { ok: false, status: 401, reason: kid ? `the playback token's signing key ${kid} is unknown (or not the stream owner's)` : "no signing key of the stream's owner verifies the playback token" };
    for (const v of candidates) {
      try {
        const { payload } = await jwtVerify(token, v.publicKey, { algorithms: ["ES256"], requiredClaims: ["exp", "sub"] });
        if (payload.sub !== stream.id) return { ok: false, status: 403, reason: `the playback token is for ${payload.sub}, not stream ${stream.id}` };
        return { ok: true, keyId: v.key.id };
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) return { ok: false, status: 403, reason: "the playback token has expired" };
        if (err instanceof joseErrors.JWTClaimValidationFailed) return { ok: false, status: 401, reason: `the playback token is invalid: ${err.message}` };
        if (candidates.length === 1 || kid) return { ok: false, status: 401, reason: `the playback token is invalid: ${(err as Error).message}` };
      }
    }
    return { ok: false, status: 401, reason: "no signing key of the stream's owner verifies the playback token" };
  }

  private async loadVerifiers(): Promise<Array<{ key: SigningKey; publicKey: CryptoKey }>> {
    const maxAge = this.opts.maxAgeMs;
    if (this.verifiers && (maxAge === undefined || this.now() - this.loadedAt < maxAge)) return this.verifiers;
    // One read for every request that finds the keys stale at once (each segment of every viewer checks).
    this.loading ??= (async () => {
      const started = this.now();
      const keys = await this.store.list();
      const loaded = await Promise.all(keys.map(async (key) => ({ key, publicKey: (await importJWK(key.publicJwk, "ES256")) as CryptoKey })));
      this.verifiers = loaded;
      this.loadedAt = started;
      return loaded;
    })().finally(() => (this.loading = undefined));
    return this.loading;
  }
}
