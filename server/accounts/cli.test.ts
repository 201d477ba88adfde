import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { main } from "../cli.ts";

async function wharf(dir: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(["--data-dir", dir, ...args], (s) => (out += s + "\n"), (s) => (err += s + "\n"));
  return { code, out, err };
}

test("CLI: keys create/list/update/revoke, usage, audit", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "wharf-cli-"));
  try {
    let r = await wharf(dir, "keys", "create", "--name", "app", "--scopes", "streams,ai", "--rpm", "600", "--ip", "10.0.0.0/8", "--daily-cap", "5", "--monthly-cap", "50", "--json");
    assert.equal(r.code, 0, r.err);
    const created = JSON.parse(r.out);
    assert.match(created.secret, /^wk_/);
    assert.equal(created.key.dailyCapMicros, 5_000_000);
    assert.deepEqual(created.key.ipAllowlist, ["10.0.0.0/8"]);

    r = await wharf(dir, "keys", "list");
    assert.equal(r.code, 0);
    assert.ok(r.out.includes(created.key.id));
    assert.ok(!r.out.includes(created.secret));

    r = await wharf(dir, "keys", "update", created.key.id, "--rpm", "none", "--max-streams", "2", "--json");
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).rateLimit, null);
    assert.equal(JSON.parse(r.out).maxConcurrentStreams, 2);

    r = await wharf(dir, "keys", "revoke", created.key.id);
    assert.equal(r.code, 0);
    assert.match(r.out, /Revoked/);
    r = await wharf(dir, "keys", "list", "--json");
    assert.deepEqual(JSON.parse(r.out), []);

    r = await wharf(dir, "usage", "--group-by", "pipeline", "--csv");
    assert.equal(r.code, 0);
    assert.match(r.out, /^pipeline,records,units/);

    r = await wharf(dir, "audit", "--limit", "2", "--json");
    assert.deepEqual(JSON.parse(r.out).map((e: { action: string }) => e.action), ["key.revoked", "key.limits_changed"]);

    r = await wharf(dir, "keys", "create", "--name", "x", "--scopes", "bogus");
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown scope "bogus"/);
    r = await wharf(dir, "keys", "revoke", "key_nope");
    assert.equal(r.code, 3);
    r = await wharf(dir, "nonsense");
    assert.equal(r.code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
