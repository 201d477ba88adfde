// The recordings index in PostgreSQL (cluster mode): every node lists and describes every recording;
// the media files stay on the disk of the node that recorded them (node_id says which).
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type postgres from "postgres";
import type { IndexedRecording, Recording, RecordingFilter, SharedRecordingIndex } from "../../media/recording/store.ts";
import type { Sql } from "../accounts/postgres-schema.ts";
import { PostgresStorage } from "../accounts/postgres.ts";

/** A node's name in the index: stable across restarts (host and data folder), and no path shown. */
export function recordingNodeId(dataDir: string): string {
  return `${hostname()}/${createHash("sha256").update(resolve(dataDir)).digest("hex").slice(0, 8)}`;
}

interface Row { id: string; node_id: string; doc: Recording }

export class PostgresRecordingIndex implements SharedRecordingIndex {
  constructor(private readonly sql: Sql, readonly nodeId: string) {}

  async put(rec: Recording): Promise<void> {
    const doc = this.sql.json(rec as unknown as postgres.JSONValue) as unknown as string;
    await this.sql`
      INSERT INTO recordings (id, stream_id, owner_key_id, node_id, started_at, doc)
      VALUES (${rec.id}, ${rec.streamId}, ${rec.ownerKeyId ?? null}, ${this.nodeId}, ${rec.startedAt}, ${doc})
      ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, node_id = excluded.node_id`;
  }

  async remove(id: string): Promise<void> {
    await this.sql`DELETE FROM recordings WHERE id = ${id}`;
  }

  async get(id: string): Promise<IndexedRecording | undefined> {
    const [r] = await this.sql<Row[]>`SELECT id, node_id, doc FROM recordings WHERE id = ${id}`;
    return r && { recording: r.doc, nodeId: r.node_id };
  }

  async list(filter: RecordingFilter): Promise<IndexedRecording[]> {
    const rows = await this.sql<Row[]>`
      SELECT id, node_id, doc FROM recordings
      WHERE (${filter.streamId ?? null}::text IS NULL OR stream_id = ${filter.streamId ?? null})
        AND (${filter.ownerKeyId ?? null}::text IS NULL OR owner_key_id = ${filter.ownerKeyId ?? null})
      ORDER BY started_at DESC, id
      LIMIT 1000`;
    return rows.map((r) => ({ recording: r.doc, nodeId: r.node_id }));
  }
}

/** Cluster mode (accounts on PostgreSQL): this node's recordings go to the shared index too. Answers this node's name there. */
export async function shareRecordingIndex(store: { share(index: SharedRecordingIndex): Promise<void> }, storage: unknown, dataDir: string): Promise<string | undefined> {
  if (!(storage instanceof PostgresStorage)) return undefined;
  const nodeId = recordingNodeId(dataDir);
  await store.share(new PostgresRecordingIndex(storage.sql, nodeId));
  return nodeId;
}
