// A fresh PostgreSQL schema (or database) for one test or test run, dropped afterwards.
import { randomBytes } from "node:crypto";
import postgres from "postgres";

export interface TestSchema {
  /** The database URL with search_path set to the fresh schema. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates schema wharf_t_<random> in the database at `baseUrl`; drop() removes it with everything in it. */
export async function freshSchema(baseUrl: string): Promise<TestSchema> {
  if (!baseUrl) throw new Error("WHARF_TEST_DATABASE_URL is not set (. .ci/services starts PostgreSQL and sets it)");
  const name = `wharf_t_${randomBytes(6).toString("hex")}`;
  const sql = postgres(baseUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`CREATE SCHEMA ${name}`);
  } finally {
    await sql.end();
  }
  const url = new URL(baseUrl);
  url.searchParams.set("search_path", name);
  return {
    url: url.toString(),
    name,
    async drop() {
      const s = postgres(baseUrl, { max: 1, onnotice: () => {} });
      try {
        await s.unsafe(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      } finally {
        await s.end();
      }
    },
  };
}
