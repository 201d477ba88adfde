// Accounts on a fresh temporary data directory for one test: closed and removed afterwards.
//
// With WHARF_TEST_ACCOUNTS_STORAGE=postgres (server/accounts/postgres.test.ts runs the accounts
// tests so) the storage is PostgreSQL at WHARF_TEST_DATABASE_URL, in a fresh schema per test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccounts, type Accounts, type AccountsOptions } from "../../server/accounts/accounts.ts";
import { PostgresStorage } from "../../server/accounts/postgres.ts";
import { freshSchema } from "./postgres.ts";

export type StorageKind = "sqlite" | "postgres";

/** The storage the accounts tests run on in this process. */
export const testStorageKind: StorageKind = process.env.WHARF_TEST_ACCOUNTS_STORAGE === "postgres" ? "postgres" : "sqlite";

/**
 * Runs `fn` with accounts on a temp dir (no file watching unless `opts.watchIntervalMs` says so).
 * `storage: "sqlite"` pins a test that reads SQLite's files to SQLite.
 */
export async function withAccounts(
  fn: (a: Accounts, dir: string) => Promise<void>,
  opts: Omit<AccountsOptions, "dataDir"> & { storageKind?: StorageKind } = {},
): Promise<void> {
  const { storageKind = testStorageKind, ...options } = opts;
  const dir = mkdtempSync(join(tmpdir(), "wharf-accounts-"));
  const schema = storageKind === "postgres" && !options.storage ? await freshSchema(process.env.WHARF_TEST_DATABASE_URL ?? "") : undefined;
  const storage = schema ? await PostgresStorage.open(schema.url) : options.storage;
  const a = createAccounts({ watchIntervalMs: 0, ...options, storage, dataDir: dir });
  try {
    await fn(a, dir);
  } finally {
    await a.close();
    await schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}
