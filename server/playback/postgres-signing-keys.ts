// Playback signing keys in PostgreSQL (cluster mode): a key created on one node verifies tokens on every node.
import type postgres from "postgres";
import type { JWK } from "jose";
import type { Sql } from "../accounts/postgres-schema.ts";
import type { SigningKey, SigningKeyStore } from "./signing-keys.ts";

interface Row { id: string; owner_key_id: string; owner_is_admin: boolean; public_jwk: JWK; public_pem: string; created_at: number }

const fromRow = (r: Row): SigningKey => ({
  id: r.id, ownerKeyId: r.owner_key_id, ownerIsAdmin: r.owner_is_admin, publicJwk: r.public_jwk, publicPem: r.public_pem, createdAt: r.created_at,
});

export class PostgresSigningKeyStore implements SigningKeyStore {
  constructor(private readonly sql: Sql) {}

  async insert(k: SigningKey): Promise<void> {
    await this.sql`
      INSERT INTO signing_keys (id, owner_key_id, owner_is_admin, public_jwk, public_pem, created_at)
      VALUES (${k.id}, ${k.ownerKeyId}, ${k.ownerIsAdmin}, ${this.sql.json(k.publicJwk as postgres.JSONValue) as unknown as string}, ${k.publicPem}, ${k.createdAt})`;
  }

  async list(ownerKeyId?: string): Promise<SigningKey[]> {
    const rows = ownerKeyId === undefined
      ? await this.sql<Row[]>`SELECT * FROM signing_keys ORDER BY created_at, id`
      : await this.sql<Row[]>`SELECT * FROM signing_keys WHERE owner_key_id = ${ownerKeyId} ORDER BY created_at, id`;
    return rows.map(fromRow);
  }

  async get(id: string): Promise<SigningKey | undefined> {
    const [r] = await this.sql<Row[]>`SELECT * FROM signing_keys WHERE id = ${id}`;
    return r && fromRow(r);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.sql`DELETE FROM signing_keys WHERE id = ${id}`).count > 0;
  }
}
