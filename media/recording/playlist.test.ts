import { test } from "node:test";
import assert from "node:assert/strict";
import { recordedDuration, vodPlaylist } from "./playlist.ts";

test("a finished recording is a VOD playlist that ends, keeps its discontinuities and sizes its target duration", () => {
  const text = vodPlaylist([
    { uri: "0.ts", duration: 2, size: 10, discontinuity: false },
    { uri: "1.ts", duration: 2.4, size: 10, discontinuity: false },
    { uri: "2.ts", duration: 1.5, size: 10, discontinuity: true },
  ]);
  assert.match(text, /^#EXTM3U\n/);
  assert.match(text, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
  assert.match(text, /#EXT-X-TARGETDURATION:3\n/);
  assert.match(text, /#EXTINF:2\.400,\n1\.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1\.500,\n2\.ts\n#EXT-X-ENDLIST\n$/);
  assert.equal(text.match(/#EXT-X-DISCONTINUITY/g)?.length, 1);
});

test("a recording still being written is an EVENT playlist without an end", () => {
  const text = vodPlaylist([{ uri: "0.ts", duration: 2, size: 1, discontinuity: true }], false);
  assert.match(text, /#EXT-X-PLAYLIST-TYPE:EVENT/);
  assert.doesNotMatch(text, /ENDLIST|DISCONTINUITY/);
  assert.equal(recordedDuration([{ uri: "0.ts", duration: 2, size: 1, discontinuity: false }, { uri: "1.ts", duration: 1.5, size: 1, discontinuity: false }]), 3.5);
});
