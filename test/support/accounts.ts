// Accounts on a fresh temporary data directory for one test: closed and removed afterwards.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccounts, type Accounts, type AccountsOptions } from "../../server/accounts/accounts.ts";

/** Runs `fn` with accounts on a temp dir (no file watching unless `opts.watchIntervalMs` says so). */
export async function withAccounts(fn: (a: Accounts, dir: string) => Promise<void>, opts: Omit<AccountsOptions, "dataDir"> = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-accounts-"));
  const a = createAccounts({ watchIntervalMs: 0, ...opts, dataDir: dir });
  try {
    await fn(a, dir);
  } finally {
    await a.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
