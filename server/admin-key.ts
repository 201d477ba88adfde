// The bootstrap admin key: WHARF_ADMIN_KEY when set, else generated once and kept in
// <dataDir>/admin-key (mode 0600) so later starts print the same one.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function loadOrCreateAdminKey(dataDir: string, configured: string): { key: string; created: boolean } {
  if (configured) return { key: configured, created: false };
  const file = join(dataDir, "admin-key");
  if (existsSync(file)) {
    const key = readFileSync(file, "utf8").trim();
    if (key) return { key, created: false };
  }
  const key = "wk_admin_" + randomBytes(24).toString("base64url");
  writeFileSync(file, key + "\n", { mode: 0o600 });
  return { key, created: true };
}
