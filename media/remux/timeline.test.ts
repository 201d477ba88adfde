import { test } from "node:test";
import assert from "node:assert/strict";
import { delta32, Timeline } from "./timeline.ts";

test("delta32 is the signed difference of 32-bit timestamps", () => {
  assert.equal(delta32(5, 2 ** 32 - 5), 10);
  assert.equal(delta32(2 ** 32 - 5, 5), -10);
  assert.equal(delta32(1000, 0), 1000);
});

test("normal deltas and the 32-bit wrap pass through unchanged", () => {
  const t = new Timeline();
  const base = 2 ** 32 - 40;
  const out = [0, 33, 66, 100].map((d) => t.map("video", (base + d) % 2 ** 32));
  assert.deepEqual(out, [base, base + 33, base + 66, base + 100]);
  assert.equal(t.map("audio", (base + 50) % 2 ** 32), base + 50, "a second track joins on the same mapping");
  assert.equal(t.jumps, 0);
  // Small backward jitter is kept as is.
  assert.equal(t.map("audio", (base + 45) % 2 ** 32), base + 45);
});

test("a restart (timestamps back to 0) continues one step later on each track; later tracks join the new mapping", () => {
  const t = new Timeline();
  for (let ms = 0; ms <= 10_000; ms += 40) t.map("video", ms);
  for (let ms = 0; ms <= 10_010; ms += 23) t.map("audio", ms);
  assert.equal(t.map("video", 0), 10_040);
  assert.equal(t.map("video", 40), 10_080);
  assert.equal(t.map("audio", 5), 10_005 + 23 - 5 + 5);
  assert.equal(t.jumps, 2);
  // A forward leap beyond 30 s is bridged too.
  assert.equal(t.map("video", 100_000), 10_120);
  assert.equal(t.map("video", 100_040), 10_160);
});

test("a restart early in the stream (less than a second back) is a restart too; a few ms back is jitter", () => {
  const t = new Timeline();
  for (let ms = 0; ms <= 960; ms += 40) t.map("video", ms);
  assert.equal(t.map("video", 0), 1000);
  assert.equal(t.jumps, 1);
  assert.equal(t.map("video", 40), 1040);
  assert.equal(t.map("video", 38), 1038, "2 ms back is jitter, passed through");
  assert.equal(t.jumps, 1);
});
