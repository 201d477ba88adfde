// A usage record whose write has returned must survive SIGKILL of the process, in both
// ledger modes (fsync within an interval, fsync before every acknowledgement).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { createAccounts } from "./accounts.ts";

const here = path.dirname(fileURLToPath(import.meta.url));

for (const fsyncMs of [100, 0]) test(`usage records printed by a writer survive its SIGKILL (usageFsyncIntervalMs ${fsyncMs})`, { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "wharf-durability-"));
  try {
    const setup = createAccounts({ dataDir: dir, watchIntervalMs: 0 });
    const { key } = await setup.createKey({ name: "writer", scopes: ["ai"] });
    await setup.close();

    const script = path.join(dir, "writer.mts");
    writeFileSync(script, `
      import { createAccounts } from ${JSON.stringify(pathToFileURL(path.join(here, "accounts.ts")).href)};
      const a = createAccounts({ dataDir: process.argv[2], watchIntervalMs: 0, usageFsyncIntervalMs: ${fsyncMs} });
      for (let i = 0; i < 1_000_000; i++) {
        const r = await a.recordBatchUsage({ keyId: process.argv[3], pipeline: "llm", units: i, orchestratorCostWei: "1000", requestId: "r" + i });
        process.stdout.write(r.id + "\\n");
      }
    `);
    const child = spawn(process.execPath, ["--import", "tsx", script, dir, key.id], { cwd: path.join(here, "../.."), stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const printed: number[] = [];
    let buf = "";
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`writer too slow; printed ${printed.length}; stderr: ${stderr}`)), 15_000);
      child.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split("\n");
        buf = lines.pop()!;
        for (const l of lines) printed.push(Number(l));
        if (printed.length >= 300 && !child.killed) {
          child.kill("SIGKILL"); // mid-burst
          clearTimeout(timer);
          resolve();
        }
      });
      child.on("exit", () => { clearTimeout(timer); if (printed.length < 300) reject(new Error(`writer exited early: ${stderr}`)); });
    });
    assert.equal(await exited, "SIGKILL");
    // Lines that arrived after the kill decision were printed too; count them.
    for (const l of buf.split("\n")) if (l) printed.push(Number(l));

    const db = new Database(path.join(dir, "wharf.db"), { readonly: true });
    try {
      const has = db.prepare("SELECT 1 FROM usage WHERE id = ?");
      const missing = printed.filter((id) => !has.get(id));
      assert.deepEqual(missing, [], "every acknowledged record is on disk");
      const count = (db.prepare("SELECT COUNT(*) AS n FROM usage").get() as { n: number }).n;
      assert.ok(count >= printed.length);
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
