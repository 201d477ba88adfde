// The first admin key: from WHARF_ADMIN_KEY, from <dataDir>/admin-key, or generated and written there (0600).
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import { moduleLogger } from "../../core/log.ts";
import { publicKey } from "./auth.ts";
import { hashSecret, newApiKeySecret } from "./crypto.ts";
import { AccountsError, SYSTEM, type Actor } from "./errors.ts";
import type { CreateKeyInput } from "./key-input.ts";
import type { AccountsStorage, ApiKey } from "./types.ts";

const log = moduleLogger("accounts");

const ADMIN_FILE = "admin-key";
const META_ADMIN_KEY_ID = "bootstrap_admin_key_id";

export interface EnsureAdminKeyResult {
  key: ApiKey;
  /** The secret, when it is known to this process: just generated, or re-read from <dataDir>/admin-key. Never set for WHARF_ADMIN_KEY. */
  secret?: string;
  source: "config" | "generated" | "file" | "unavailable";
  created: boolean;
  /** Path of the admin-key file (generated keys only). */
  file?: string;
}

/** What ensureAdminKey needs of the accounts service. */
export interface AdminKeyHost {
  readonly storage: Pick<AccountsStorage, "keys" | "meta">;
  readonly dataDir: string;
  insertKey(input: CreateKeyInput, secret: string, by: Actor, extra?: Record<string, unknown>): Promise<ApiKey>;
}

/**
 * Makes sure an admin key exists.
 * - With `adminSecret` (WHARF_ADMIN_KEY): that secret is an admin key (its hash is
 *   stored once; idempotent). A key of that secret revoked through the API stays revoked.
 * - Without: on the very first start an admin key is generated, its secret written to
 *   <dataDir>/admin-key (mode 0600, before the key is committed) and returned so the
 *   server can print it. On later starts the secret is re-read from that file (so
 *   `npm start` can print it again) as long as the key is still active; delete the
 *   file once you have stored the secret elsewhere.
 */
export async function ensureAdminKey(accounts: AdminKeyHost, adminSecret?: string): Promise<EnsureAdminKeyResult> {
  if (adminSecret !== undefined && adminSecret !== "") {
    if (adminSecret.length < 16 || /\s/.test(adminSecret)) {
      throw new AccountsError("invalid_request", "WHARF_ADMIN_KEY", "WHARF_ADMIN_KEY must be at least 16 characters without whitespace");
    }
    const existing = await accounts.storage.keys.getByHash(hashSecret(adminSecret));
    if (existing) {
      if (existing.revokedAt !== null) log.warn({ keyId: existing.id }, "the key configured as WHARF_ADMIN_KEY has been revoked");
      else if (!existing.scopes.includes("admin")) log.warn({ keyId: existing.id }, "the key configured as WHARF_ADMIN_KEY lacks the admin scope");
      return { key: publicKey(existing), source: "config", created: false };
    }
    const key = await accounts.insertKey({ name: "admin (WHARF_ADMIN_KEY)", scopes: ["admin"] }, adminSecret, SYSTEM, { bootstrap: "config" });
    return { key, source: "config", created: true };
  }

  const file = path.join(accounts.dataDir, ADMIN_FILE);
  const knownId = await accounts.storage.meta.get(META_ADMIN_KEY_ID);
  if (knownId) {
    const row = await accounts.storage.keys.get(knownId);
    if (row && existsSync(file)) {
      const secret = readFileSync(file, "utf8").trim();
      if (row.revokedAt === null && hashSecret(secret) === row.secretHash) return { key: publicKey(row), secret, source: "file", created: false, file };
    }
    if (row) return { key: publicKey(row), source: "unavailable", created: false };
    // The bootstrap key vanished (should not happen): fall through and make a new one.
  }
  // Never overwrite an existing admin-key file (e.g. written by an earlier bootstrap
  // helper or by the operator): adopt its secret as the admin key.
  const existingSecret = existsSync(file) ? readFileSync(file, "utf8").trim() : "";
  if (existingSecret.length >= 16 && !/\s/.test(existingSecret)) {
    const row = await accounts.storage.keys.getByHash(hashSecret(existingSecret));
    const key = row
      ? publicKey(row)
      : await accounts.insertKey({ name: "admin (admin-key file)", scopes: ["admin"] }, existingSecret, SYSTEM, { bootstrap: "file" });
    await accounts.storage.meta.set(META_ADMIN_KEY_ID, key.id);
    if (key.revokedAt !== null) return { key, source: "unavailable", created: false };
    return { key, secret: existingSecret, source: "file", created: !row, file };
  }
  const secret = newApiKeySecret();
  writeSecretFile(file, secret);
  const key = await accounts.insertKey({ name: "admin (generated)", scopes: ["admin"] }, secret, SYSTEM, { bootstrap: "generated" });
  await accounts.storage.meta.set(META_ADMIN_KEY_ID, key.id);
  return { key, secret, source: "generated", created: true, file };
}

/** Writes the admin secret with mode 0600 atomically and durably (tmp + fsync + rename). */
function writeSecretFile(file: string, secret: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, secret + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
