import { test } from "node:test";
import assert from "node:assert/strict";
import { runFfmpeg } from "../ffmpeg.ts";
import { TsFrameCounter } from "./frame-counter.ts";

test("counts every video frame of a TS stream fed in odd chunks after junk bytes", async () => {
  const ts = await runFfmpeg([
    "-hide_banner", "-loglevel", "error",
    "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=2",
    "-f", "lavfi", "-i", "sine=duration=2",
    "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-c:a", "aac", "-f", "mpegts", "pipe:1",
  ], { timeoutMs: 30000 });
  const pts: Array<number | undefined> = [];
  const counter = new TsFrameCounter(3000, (p) => pts.push(p));
  counter.write(Buffer.from([1, 2, 3, 0x47, 9, 9])); // garbage before the first sync byte
  for (let off = 0; off < ts.length; off += 777) counter.write(ts.subarray(off, off + 777));
  assert.equal(counter.frames, 60);
  assert.ok(pts.every((p) => typeof p === "number"));
  assert.ok(Math.abs(pts.at(-1)! - pts[0]! - 59 / 30) < 0.01, "PTS span of 60 frames at 30 fps");
  assert.ok(counter.fps() > 0);
});
