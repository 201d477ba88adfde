// The recordings index on PostgreSQL: two nodes (two recording stores on their own disks, one
// database) each see the other's recordings, know which node holds the files, and stop seeing a
// recording once its node deletes it; a store restarted on its disk writes what it has to the index.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RecordingStore, type Recording } from "../../media/recording/store.ts";
import { PostgresStorage } from "../accounts/postgres.ts";
import { freshSchema, type TestSchema } from "../../test/support/postgres.ts";
import { requireServices } from "../../test/support/services.ts";
import { PostgresRecordingIndex, recordingNodeId } from "./postgres-recordings.ts";

const pg = requireServices("WHARF_TEST_DATABASE_URL");

async function until(label: string, fn: () => Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const rec = (id: string, streamId: string, startedAt: number): Recording => ({
  id, streamId, ownerKeyId: "key_o", sessionId: "sess", state: "recording", startedAt, segments: [],
});

describe("recordings index on PostgreSQL", { skip: pg.skip }, () => {
  let schema: TestSchema;
  let storage: PostgresStorage;
  const dir = mkdtempSync(join(tmpdir(), "wharf-rec-index-"));
  before(async () => {
    schema = await freshSchema(pg.url("WHARF_TEST_DATABASE_URL"));
    storage = await PostgresStorage.open(schema.url, { max: 4 });
  });
  after(async () => {
    await storage?.close();
    await schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("each node sees the other's recordings and which node holds their files; a deletion reaches the index", async () => {
    const idA = recordingNodeId(join(dir, "a"));
    const idB = recordingNodeId(join(dir, "b"));
    assert.notEqual(idA, idB, "two data folders on one host are two nodes");
    assert.equal(recordingNodeId(join(dir, "a")), idA, "stable across restarts");
    const a = new RecordingStore(join(dir, "a"));
    const b = new RecordingStore(join(dir, "b"));
    await a.share(new PostgresRecordingIndex(storage.sql, idA));
    await b.share(new PostgresRecordingIndex(storage.sql, idB));

    const r1 = rec("rec_1", "str_1", 1000);
    a.save(r1);
    b.save(rec("rec_2", "str_1", 2000));
    r1.segments.push({ uri: "0.ts", duration: 2, size: 100, discontinuity: false });
    r1.state = "ready";
    a.save(r1); // a later write of the same recording wins
    await until("both in the index", async () => (await b.query({ streamId: "str_1" })).length === 2 && (await b.lookup("rec_1"))?.recording.state === "ready");

    const onB = await b.lookup("rec_1");
    assert.deepEqual(onB && { local: onB.local, nodeId: onB.local ? undefined : onB.nodeId, segments: onB.recording.segments.length }, { local: false, nodeId: idA, segments: 1 });
    assert.equal((await a.lookup("rec_1"))?.local, true, "its own recording is local");
    assert.deepEqual((await a.query({ streamId: "str_1" })).map((r) => r.id), ["rec_2", "rec_1"], "newest first");
    assert.deepEqual(await a.query({ streamId: "str_other" }), []);
    assert.deepEqual((await a.query({ ownerKeyId: "key_x" })), []);

    a.delete("rec_1");
    await until("gone from the index", async () => (await b.lookup("rec_1")) === undefined);

    // Node b restarted on its disk: what the disk has goes to the index again.
    await storage.sql`DELETE FROM recordings`;
    const b2 = new RecordingStore(join(dir, "b"));
    await b2.share(new PostgresRecordingIndex(storage.sql, idB));
    assert.deepEqual((await a.query({})).map((r) => r.id), ["rec_2"]);
  });
});
