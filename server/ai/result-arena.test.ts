import { test } from "node:test";
import assert from "node:assert/strict";
import { ResultArena } from "./result-arena.ts";

test("results packed into chunks read back intact; a chunk is dropped with its last result", () => {
  const arena = new ResultArena(1000);
  const items = Array.from({ length: 50 }, (_, i) => Buffer.alloc(30 + i, i));
  const pos = items.map((b) => arena.put(b));
  items.forEach((b, i) => assert.deepEqual(arena.view(pos[i]!, b.length), b));
  const held = arena.heldBytes;
  assert.ok(held >= 3000, `50 results of 30-79 bytes need several 1000-byte chunks (held ${held})`);
  // Release all but the last: every chunk but the current one goes.
  for (const p of pos.slice(0, -1)) arena.release(p);
  assert.equal(arena.heldBytes, 1000);
  assert.deepEqual(arena.view(pos.at(-1)!, items.at(-1)!.length), items.at(-1));
});

test("a view stays valid after its chunk is released; an item larger than a chunk is refused", () => {
  const arena = new ResultArena(64);
  const p = arena.put(Buffer.from("first result"));
  const v = arena.view(p, 12);
  arena.put(Buffer.alloc(60)); // next chunk
  arena.release(p);
  assert.throws(() => arena.view(p, 12), /released chunk/);
  assert.equal(v.toString(), "first result");
  assert.throws(() => arena.put(Buffer.alloc(65)), /do not fit/);
});
