// The playlist rewrite of signed playback: every URI a player follows carries the ?jwt= token.
import { test } from "node:test";
import assert from "node:assert/strict";
import { playlistWithToken, withToken } from "./playback-auth.ts";

test("segment, part, preload-hint and rendition URIs get jwt=; tags and blank lines do not", () => {
  const text = [
    "#EXTM3U",
    "#EXT-X-TARGETDURATION:2",
    "#EXT-X-PART:DURATION=0.334,URI=\"12.0.ts\",INDEPENDENT=YES",
    "#EXTINF:2.000,",
    "12.ts",
    "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"13.1.ts\"",
    "",
    "source/index.m3u8?x=1",
  ].join("\n");
  assert.equal(
    playlistWithToken(text, "a.b.c"),
    [
      "#EXTM3U",
      "#EXT-X-TARGETDURATION:2",
      "#EXT-X-PART:DURATION=0.334,URI=\"12.0.ts?jwt=a.b.c\",INDEPENDENT=YES",
      "#EXTINF:2.000,",
      "12.ts?jwt=a.b.c",
      "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"13.1.ts?jwt=a.b.c\"",
      "",
      "source/index.m3u8?x=1&jwt=a.b.c",
    ].join("\n"),
  );
  assert.equal(withToken("1.ts?jwt=old", "new"), "1.ts?jwt=old");
});
