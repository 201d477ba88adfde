// A recording whose metadata can no longer be written (the disk full, its directory gone) keeps
// recording and ends without a rejection: those were unhandled in the service's background chains
// and took the process down, again at every restart while the recording waited to be finalized.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StreamOutputs } from "../hub/outputs.ts";
import { SessionRecorder } from "./session-recorder.ts";
import { RecordingStore, type Recording } from "./store.ts";

const segment = (bytes: Buffer, duration = 2) => ({ duration, discontinuity: false, bytes: async () => bytes });

test("segments are written and the metadata saved; once saving fails, finish still resolves with the recording", async () => {
  const root = mkdtempSync(join(tmpdir(), "wharf-rec-"));
  const store = new RecordingStore(root);
  const outputs = new EventEmitter();
  const rec: Recording = { id: "rec_1", streamId: "s1", sessionId: "x", state: "recording", startedAt: Date.now(), segments: [] };
  const recorder = new SessionRecorder(rec, store, outputs as unknown as StreamOutputs, "source");
  outputs.emit("segment", "source", segment(Buffer.from("one")));
  outputs.emit("segment", "720p", segment(Buffer.from("other rendition")));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(readFileSync(join(store.dir("rec_1"), "0.ts"), "utf8"), "one");
  assert.equal((JSON.parse(readFileSync(join(store.dir("rec_1"), "recording.json"), "utf8")) as Recording).segments.length, 1);

  // The recording's directory becomes a file: every later write fails.
  rmSync(store.dir("rec_1"), { recursive: true, force: true });
  writeFileSync(store.dir("rec_1"), "not a directory");
  outputs.emit("segment", "source", segment(Buffer.from("two")));
  const done = await recorder.finish();
  assert.equal(done.state, "processing");
  assert.equal(done.segments.length, 1, "the segment that could not be written is not listed");
  assert.equal(outputs.listenerCount("segment"), 0, "stopped listening");
});
