import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { measureStalls, simulatePlayer, type RecordedEntry } from "./playlist-recorder.ts";

/** 1 s segments listed at the given wall-clock seconds. */
function listed(at: number[], opts: { discontinuityAt?: number } = {}): RecordedEntry[] {
  return at.map((t, i) => ({ msn: i, durationS: 1, pdtMs: t * 1000, gap: false, discontinuity: i === opts.discontinuityAt, firstListedAt: t * 1000 }));
}

describe("the simulated player", () => {
  test("steady segments: no stall", () => {
    assert.equal(simulatePlayer(listed([0, 1, 2, 3, 4, 5, 6, 7]), 3).maxStallMs, 0);
  });

  test("a burst after a 3 s silence is absorbed by 3 s of hold-back", () => {
    // Listed at 0,1,2 (play starts at 2 with 3 s buffered), then nothing until 5.0.
    assert.equal(simulatePlayer(listed([0, 1, 2, 5, 5, 5, 6, 7]), 3).maxStallMs, 0);
  });

  test("a silence longer than the buffer stalls for the difference, and the clock moves on from there", () => {
    // Play starts at 2; segment 3 is needed at 5 but listed at 7.5: a 2.5 s stall.
    const r = simulatePlayer(listed([0, 1, 2, 7.5, 8.5, 9.5]), 3);
    assert.equal(r.maxStallMs, 2500);
    assert.deepEqual(r.stalls, ["#3: 2500 ms"]);
    // After the stall the player is on time again: a segment listed when needed is no stall.
    assert.equal(simulatePlayer(listed([0, 1, 2, 7.5, 8.5, 9.5, 10.5]), 3).stalls.length, 1);
  });

  test("measureStalls reports the player's stall next to the playlist figures", () => {
    const s = measureStalls(listed([0, 1, 2, 8, 9, 10], { discontinuityAt: 3 }), 1);
    assert.equal(s.maxPlayerStallMs, 3000);
    assert.equal(s.discontinuities, 1);
  });
});
