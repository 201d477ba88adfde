// Playback signing keys on PostgreSQL: a key created through one node verifies a token on another at
// once (its kid is not known there yet: the keys are read again), and a key deleted on one node stops
// verifying on the other within the cache's age.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { importPKCS8, SignJWT } from "jose";
import { PostgresStorage } from "../accounts/postgres.ts";
import { freshSchema, type TestSchema } from "../../test/support/postgres.ts";
import { requireServices } from "../../test/support/services.ts";
import { PostgresSigningKeyStore } from "./postgres-signing-keys.ts";
import { SigningKeys } from "./signing-keys.ts";

const pg = requireServices("WHARF_TEST_DATABASE_URL");

describe("signing keys on PostgreSQL", { skip: pg.skip }, () => {
  let schema: TestSchema;
  let a: PostgresStorage;
  let b: PostgresStorage;
  before(async () => {
    schema = await freshSchema(pg.url("WHARF_TEST_DATABASE_URL"));
    a = await PostgresStorage.open(schema.url, { max: 2 });
    b = await PostgresStorage.open(schema.url, { max: 2 });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await schema?.drop();
  });

  test("created on node 1, verifies on node 2; deleted on node 1, refused on node 2 within maxAgeMs", async () => {
    const node1 = new SigningKeys(new PostgresSigningKeyStore(a.sql), { maxAgeMs: 300 });
    const node2 = new SigningKeys(new PostgresSigningKeyStore(b.sql), { maxAgeMs: 300 });
    const stream = { id: "str_1", ownerKeyId: "key_owner" };
    // node 2 has read the (empty) key list before the key exists.
    assert.equal((await node2.check("eyJhbGciOiJFUzI1NiJ9.e30.x", stream)).ok, false);
    const created = await node1.create("key_owner", false);
    const priv = await importPKCS8(created.privatePem, "ES256");
    const token = await new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: created.key.id }).setSubject("str_1").setExpirationTime("1m").sign(priv);
    assert.deepEqual(await node2.check(token, stream), { ok: true, keyId: created.key.id });
    const other = await node2.check(token, { id: "str_2", ownerKeyId: "key_owner" });
    assert.equal(other.ok ? 0 : other.status, 403, "a token for another stream");
    assert.equal((await node2.list("key_owner")).length, 1);
    assert.equal(await node1.delete(created.key.id), true);
    await new Promise((r) => setTimeout(r, 350));
    const after = await node2.check(token, stream);
    assert.equal(after.ok, false, "a deleted key stops verifying on the other node");
  });
});
