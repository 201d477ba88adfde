// The positive-lookup cache of AuthService (keyed by secret): a cached key answers without the
// store, an expired entry is looked up again, and expired secrets leave memory at the next lookup
// rather than staying until the same secret comes back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AuthService } from "./auth.ts";
import { hashSecret } from "./crypto.ts";
import type { ApiKeyRow, AuditStore, KeyStore } from "./types.ts";

const row = (id: string, secret: string): ApiKeyRow => ({
  id, name: id, prefix: secret.slice(0, 6), secretHash: hashSecret(secret), scopes: ["ai"], ipAllowlist: null, rateLimit: null,
  maxConcurrentStreams: null, dailyCapMicros: null, monthlyCapMicros: null, createdAt: 0, updatedAt: 0, revokedAt: null,
} as unknown as ApiKeyRow);

test("the auth cache: hits skip the store, expired entries are looked up again and swept from memory", async () => {
  const rows = new Map([row("k1", "secret-one-xxxxxxxxxxxxxxxx"), row("k2", "secret-two-xxxxxxxxxxxxxxxx")].map((r) => [r.secretHash, r]));
  let lookups = 0;
  const keys = { getByHash: async (h: string) => (lookups++, rows.get(h)) } as unknown as KeyStore;
  const audit = { append: async () => ({}) } as unknown as AuditStore;
  let now = 1_000_000;
  const auth = new AuthService({ keys, audit, cacheTtlMs: 30_000, now: () => now });
  const cached = () => (auth as unknown as { cache: Map<string, unknown> }).cache;

  assert.equal((await auth.authenticate("secret-one-xxxxxxxxxxxxxxxx", "127.0.0.1", "ai")).ok, true);
  assert.equal(lookups, 1);
  const hit = auth.authenticate("secret-one-xxxxxxxxxxxxxxxx", "127.0.0.1", "ai");
  assert.ok(!(hit instanceof Promise), "a cached key is answered at once");
  assert.equal(lookups, 1);

  now += 30_001; // k1's entry has expired
  assert.equal((await auth.authenticate("secret-two-xxxxxxxxxxxxxxxx", "127.0.0.1", "ai")).ok, true);
  assert.deepEqual([...cached().keys()], ["secret-two-xxxxxxxxxxxxxxxx"], "the expired secret left the cache at the next lookup");
  assert.equal((await auth.authenticate("secret-one-xxxxxxxxxxxxxxxx", "127.0.0.1", "ai")).ok, true);
  assert.equal(lookups, 3, "an expired key is looked up again");

  auth.invalidate("k1");
  assert.deepEqual([...cached().keys()], ["secret-two-xxxxxxxxxxxxxxxx"]);
  assert.equal((await auth.authenticate("wrong-secret-xxxxxxxxxxxxxx", "127.0.0.1", "ai")).ok, false);
  assert.equal(cached().size, 1, "unknown secrets are not cached");
});

test("a lookup that a revocation overtook does not cache what it read", async () => {
  const secret = "secret-three-xxxxxxxxxxxxxx";
  const r = row("k3", secret);
  let release!: () => void;
  const keys = { getByHash: (h: string) => new Promise((resolve) => (release = () => resolve(h === r.secretHash ? r : undefined))) } as unknown as KeyStore;
  const audit = { append: async () => ({}) } as unknown as AuditStore;
  const auth = new AuthService({ keys, audit });
  const pending = auth.authenticate(secret, "127.0.0.1", "ai");
  assert.ok(pending instanceof Promise);
  auth.invalidate("k3"); // revoked while its row was being read
  release();
  assert.equal((await pending).ok, true, "the request that read it is answered from what it read");
  const next = auth.authenticate(secret, "127.0.0.1", "ai");
  assert.ok(next instanceof Promise, "the next request reads the key again: nothing stale was cached");
  release();
  await next;
});
