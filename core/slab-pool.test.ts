// Pooled slabs and the segments holding slices of them: a slab is reused only once nobody can
// read it, and a reader that is not counted pins its segment instead of reading reused bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { completeSegment, LiveSegment } from "./live-segment.ts";
import { FREED_SLAB_FILL, ingestSlabs, SlabPool } from "./slab-pool.ts";

test("a released slab is filled and handed out again; counts per holder; only maxFree are kept", () => {
  const pool = new SlabPool(1024, 1);
  const a = pool.take();
  a.fill(7);
  assert.equal(pool.retain(a.buffer), true);
  assert.equal(pool.retain(Buffer.alloc(1024).buffer), false, "not one of the pool's slabs");
  pool.release(a.buffer);
  assert.deepEqual(pool.stats(), { allocated: 1, reused: 0, free: 0, inUse: 1 }, "still held once");
  pool.release(a.buffer);
  assert.equal(a[0], FREED_SLAB_FILL, "a free slab reads as filler");
  assert.deepEqual(pool.stats(), { allocated: 1, reused: 0, free: 1, inUse: 0 });
  pool.release(a.buffer); // once more: nothing happens
  const b = pool.take();
  assert.equal(b.buffer, a.buffer, "the same memory again");
  const c = pool.take();
  pool.release(b.buffer);
  pool.release(c.buffer);
  assert.deepEqual(pool.stats(), { allocated: 2, reused: 1, free: 1, inUse: 0 }, "the second free slab is left to the GC");
});

/** A segment of `n` slices of one pooled slab, each filled with `value`. */
function pooledSegment(seq: number, value: number): { seg: LiveSegment; slab: Buffer } {
  const slab = ingestSlabs.take();
  const seg = new LiveSegment(seq, 0);
  for (let i = 0; i < 4; i++) seg.push(slab.subarray(i * 100, (i + 1) * 100).fill(value));
  ingestSlabs.release(slab.buffer); // the writer (an arena) moves on
  return { seg, slab };
}

test("a segment holds its slabs while a holder retains it; released, it reads as an error and its slab is reused", async () => {
  const { seg, slab } = pooledSegment(1, 9);
  const hold = seg.retain()!;
  seg.end(2);
  assert.equal(seg.released, false);
  const response = seg.retain()!;
  hold();
  hold(); // a second call does nothing
  assert.equal(Buffer.concat(seg.views())[399], 9, "a response still holds it");
  assert.equal(slab[0], 9);
  response();
  assert.equal(seg.released, true);
  assert.equal(slab[0], FREED_SLAB_FILL, "the slab went back to the pool");
  assert.throws(() => seg.views(), /released/);
  await assert.rejects(seg.bytes(), /released/);
  assert.equal(seg.retain(), undefined);
});

test("bytes() asked while the segment is written copies it before anything is released", async () => {
  const { seg } = pooledSegment(2, 5);
  const copy = seg.bytes();
  seg.end(2); // the producer's hold goes; bytes() holds its own until it copied
  const bytes = await copy;
  assert.equal(bytes.length, 400);
  assert.ok(bytes.every((b) => b === 5));
  assert.equal(seg.released, true, "and then lets go");
});

test("views taken without holding (chunks, a data listener, iterate) pin the segment: its slab is never reused", () => {
  for (const take of [(s: LiveSegment) => s.chunks, (s: LiveSegment) => s.on("data", () => {}), (s: LiveSegment) => void s.iterate().next()]) {
    const { seg, slab } = pooledSegment(3, 4);
    take(seg);
    seg.end(2);
    assert.equal(seg.released, false);
    assert.equal(slab[0], 4, "not reused");
  }
});

test("a segment of ordinary memory is never released: it stays readable for as long as anyone has it", async () => {
  const seg = completeSegment(0, 0, Buffer.alloc(10, 1), 2);
  assert.equal(seg.released, false);
  assert.equal((await seg.bytes()).length, 10);
  seg.retain()!();
  assert.equal((await seg.bytes()).length, 10);
});

test("a slab shared by two segments is reused only after both are released", () => {
  const slab = ingestSlabs.take();
  const first = new LiveSegment(0, 0);
  const second = new LiveSegment(1, 2);
  first.push(slab.subarray(0, 10).fill(1));
  second.push(slab.subarray(10, 20).fill(2));
  ingestSlabs.release(slab.buffer);
  first.end(2);
  assert.equal(first.released, true);
  assert.equal(slab[10], 2, "the second segment still holds the slab");
  second.end(2);
  assert.equal(slab[10], FREED_SLAB_FILL);
});

test("a slab shared with a pinned segment is never reused, and the pool stops counting it once both let go", () => {
  const inUse = ingestSlabs.stats().inUse;
  const slab = ingestSlabs.take();
  const pinned = new LiveSegment(0, 0);
  const held = new LiveSegment(1, 2);
  pinned.push(slab.subarray(0, 10).fill(1));
  void pinned.chunks; // a reader that does not hold
  held.push(slab.subarray(10, 20).fill(2));
  ingestSlabs.release(slab.buffer);
  pinned.end(2);
  held.end(2);
  assert.equal(held.released, true);
  assert.equal(pinned.released, false);
  assert.equal(slab[0], 1, "the pinned segment's bytes are intact");
  assert.equal(ingestSlabs.stats().inUse, inUse, "not counted as in use any more");
  const next = ingestSlabs.take();
  assert.notEqual(next.buffer, slab.buffer, "not handed out again");
  ingestSlabs.release(next.buffer);
});
