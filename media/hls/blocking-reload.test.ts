import { test } from "node:test";
import assert from "node:assert/strict";
import { parseBlockingRequest, satisfies, tooFarAhead, type LiveEdge } from "./blocking-reload.ts";

test("_HLS_msn/_HLS_part: absent is no request; malformed, negative, fractional or a part without msn is a 400 reason", () => {
  assert.deepEqual(parseBlockingRequest({}), { ok: true });
  assert.deepEqual(parseBlockingRequest({ _HLS_msn: "12" }), { ok: true, request: { msn: 12 } });
  assert.deepEqual(parseBlockingRequest({ _HLS_msn: "12", _HLS_part: "0" }), { ok: true, request: { msn: 12, part: 0 } });
  for (const q of [{ _HLS_part: "1" }, { _HLS_msn: "-1" }, { _HLS_msn: "1.5" }, { _HLS_msn: "abc" }, { _HLS_msn: "" }, { _HLS_msn: ["1", "2"] }, { _HLS_msn: "1", _HLS_part: "x" }, { _HLS_msn: "99999999999999999" }]) {
    const r = parseBlockingRequest(q);
    assert.equal(r.ok, false, JSON.stringify(q));
    if (!r.ok) assert.match(r.reason, /_HLS_/);
  }
});

const edge = (e: Partial<LiveEdge>): LiveEdge => ({ lastMsn: 4, lastParts: 6, open: { msn: 5, parts: 2 }, partTarget: 0.334, ended: false, ...e });

test("a request is answered once its part, or any later one, exists; a segment that ended before part P moves on to the next segment's first part", () => {
  assert.equal(satisfies(edge({}), { msn: 5, part: 1 }), true);
  assert.equal(satisfies(edge({}), { msn: 5, part: 2 }), false, "the next part is not there yet");
  assert.equal(satisfies(edge({}), { msn: 4 }), true);
  assert.equal(satisfies(edge({}), { msn: 5 }), false, "segment 5 is not complete");
  assert.equal(satisfies(edge({ lastMsn: 5, lastParts: 6, open: { msn: 6, parts: 0 } }), { msn: 5, part: 6 }), false, "segment 5 had 6 parts: wait for 6.0");
  assert.equal(satisfies(edge({ lastMsn: 5, lastParts: 6, open: { msn: 6, parts: 1 } }), { msn: 5, part: 6 }), true);
  assert.equal(satisfies(edge({ ended: true }), { msn: 9, part: 0 }), true, "an ended stream answers at once");
  assert.equal(satisfies(edge({ partTarget: undefined, open: undefined }), { msn: 4, part: 3 }), true, "without parts, the segment is what counts");
});

test("too far ahead: more than two segments past the newest, or more than the Advance Part Limit (3 / PART-TARGET) parts past the newest part", () => {
  assert.equal(tooFarAhead(edge({}), { msn: 7 }), false);
  assert.equal(tooFarAhead(edge({}), { msn: 8 }), true);
  assert.equal(tooFarAhead(edge({}), { msn: 5, part: 10 }), false, "newest part 1, limit 9");
  assert.equal(tooFarAhead(edge({}), { msn: 5, part: 11 }), true);
  assert.equal(tooFarAhead(edge({}), { msn: 6, part: 9 }), false);
  assert.equal(tooFarAhead(edge({}), { msn: 6, part: 10 }), true);
  assert.equal(tooFarAhead(edge({ lastMsn: -1, lastParts: 0, open: undefined }), { msn: 0, part: 0 }), false, "the first part of the first segment may be waited for");
});
