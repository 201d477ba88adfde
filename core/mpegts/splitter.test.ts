import { test } from "node:test";
import assert from "node:assert/strict";
import { runFfmpeg, ffprobe } from "../ffmpeg.ts";
import { maxSegmentDurationFor, TsSplitter } from "./splitter.ts";
import type { LiveSegment } from "../live-segment.ts";

async function testTs(seconds: number, gop: number): Promise<Buffer> {
  return runFfmpeg([
    "-hide_banner", "-loglevel", "error",
    "-f", "lavfi", "-i", `testsrc2=size=320x240:rate=30:duration=${seconds}`,
    "-f", "lavfi", "-i", `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    "-c:v", "libx264", "-preset", "ultrafast", "-g", String(gop), "-keyint_min", String(gop), "-sc_threshold", "0",
    "-c:a", "aac", "-b:a", "64k", "-f", "mpegts", "pipe:1",
  ], { timeoutMs: 30000 });
}

test("cuts keyframe-aligned segments of the target duration, each decodable on its own", async () => {
  const ts = await testTs(9, 30);
  const splitter = new TsSplitter({ targetDuration: 2 });
  const segments: LiveSegment[] = [];
  splitter.on("segment", (s) => segments.push(s));
  // Feed in odd-sized chunks to exercise packet reassembly.
  for (let off = 0; off < ts.length; off += 1000) splitter.write(ts.subarray(off, off + 1000));
  splitter.end();
  assert.ok(segments.length >= 4, `expected >= 4 segments, got ${segments.length}`);
  assert.deepEqual(segments.map((s) => s.seq), segments.map((_, i) => i));
  for (const seg of segments.slice(0, -1)) {
    assert.ok(Math.abs(seg.duration - 2) < 0.05, `segment ${seg.seq} lasted ${seg.duration}`);
  }
  for (const seg of segments) {
    const bytes = await seg.bytes();
    assert.equal(bytes[0], 0x47);
    assert.equal(((bytes[1]! & 0x1f) << 8) | bytes[2]!, 0, "segment starts with the PAT");
    const streams = await ffprobe(bytes);
    assert.ok(streams.streams.some((s) => s.codec_name === "h264"));
    assert.ok(streams.streams.some((s) => s.codec_name === "aac"));
    const frames = await ffprobe(bytes, ["-show_frames", "-select_streams", "v", "-read_intervals", "%+#1"]);
    assert.equal(frames.frames?.[0]?.key_frame, 1, `segment ${seg.seq} starts with a keyframe`);
  }
});

test("bytes of a segment are readable before it completes", async () => {
  const ts = await testTs(4, 30);
  const splitter = new TsSplitter({ targetDuration: 2 });
  let first: LiveSegment | undefined;
  splitter.on("segment", (s) => (first ??= s));
  splitter.write(ts.subarray(0, 188 * 200));
  assert.ok(first, "segment started");
  assert.equal(first.complete, false);
  assert.ok(first.size > 0);
  const reader = first.iterate();
  const firstChunk = await reader.next();
  assert.ok(!firstChunk.done && firstChunk.value.length > 0);
  splitter.write(ts.subarray(188 * 200));
  splitter.end();
  let total = firstChunk.value!.length;
  for await (const c of reader) total += c.length;
  assert.equal(total, first.size);
});

test("garbage input never throws and yields no segment", () => {
  const splitter = new TsSplitter({ targetDuration: 2 });
  let count = 0;
  splitter.on("segment", () => count++);
  const junk = Buffer.alloc(188 * 50);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) & 0xff;
  splitter.write(junk);
  splitter.write(Buffer.from([0x47, 0x47, 0x47]));
  splitter.end();
  assert.equal(count, 0);
});

test("an audio-only stream is cut on audio packets at the target duration", async () => {
  const ts = await runFfmpeg([
    "-hide_banner", "-loglevel", "error",
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=7",
    "-c:a", "aac", "-b:a", "64k", "-f", "mpegts", "-pes_payload_size", "0", "pipe:1",
  ], { timeoutMs: 30000 });
  const splitter = new TsSplitter({ targetDuration: 2 });
  const segments: LiveSegment[] = [];
  splitter.on("segment", (s) => segments.push(s));
  splitter.write(ts);
  splitter.end();
  assert.ok(segments.length >= 3, `segments: ${segments.length}`);
  for (const seg of segments.slice(0, -1)) assert.ok(Math.abs(seg.duration - 2) < 0.1, `segment ${seg.seq} lasted ${seg.duration}`);
  const probe = await ffprobe(await segments[1]!.bytes());
  assert.deepEqual(probe.streams.map((s) => s.codec_name), ["aac"]);
});

test("a publisher with keyframes too rare: segments are cut at the duration limit, marked as starting mid-GOP; the keyframe interval is measured", async () => {
  const ts = await testTs(12, 150); // a keyframe every 5 s, segments of 2 s wanted
  const max = maxSegmentDurationFor(2);
  const splitter = new TsSplitter({ targetDuration: 2, maxDuration: max });
  const segments: LiveSegment[] = [];
  splitter.on("segment", (s) => segments.push(s));
  splitter.write(ts);
  splitter.end();
  assert.ok(segments.length >= 5, `${segments.length} segments`);
  for (const seg of segments) assert.ok(seg.duration <= max, `segment ${seg.seq} lasted ${seg.duration} s (limit ${max})`);
  assert.ok(segments.every((s) => Math.round(s.duration) <= 2), "EXT-X-TARGETDURATION 2 holds for every segment");
  assert.ok(splitter.forcedCuts >= 3, `forced cuts ${splitter.forcedCuts}`);
  assert.equal(segments[0]!.startsWithKeyframe, true);
  assert.ok(segments.some((s) => !s.startsWithKeyframe));
  assert.ok(Math.abs((splitter.keyframeInterval ?? 0) - 5) < 0.1, `keyframe interval ${splitter.keyframeInterval}`);
});

test("no keyframe ever after the first: segments stay bounded in duration and bytes", async () => {
  const ts = await testTs(8, 1000);
  const splitter = new TsSplitter({ targetDuration: 2, maxDuration: maxSegmentDurationFor(2), maxBytes: 40_000 });
  const segments: LiveSegment[] = [];
  splitter.on("segment", (s) => segments.push(s));
  splitter.write(ts);
  splitter.end();
  const byDuration = Math.ceil(8 / maxSegmentDurationFor(2));
  assert.ok(segments.length > byDuration, `${segments.length} segments: the byte limit cut some`);
  for (const seg of segments) {
    assert.ok(seg.duration <= maxSegmentDurationFor(2));
    assert.ok(seg.size <= 40_000 + 32 * 1024, `segment ${seg.seq} has ${seg.size} bytes`);
  }
});

test("without a limit (the default) cuts happen at keyframes only", async () => {
  const ts = await testTs(8, 150);
  const splitter = new TsSplitter({ targetDuration: 2 });
  const segments: LiveSegment[] = [];
  splitter.on("segment", (s) => segments.push(s));
  splitter.write(ts);
  splitter.end();
  assert.equal(splitter.forcedCuts, 0);
  assert.ok(segments.every((s) => s.startsWithKeyframe));
});

test("parts (LL-HLS): at most the part target each, covering the segment byte for byte; a part at a keyframe starts with the program tables and decodes on its own", async () => {
  // 1 s GOP with B-frames: the keyframe in the middle of each 2 s segment opens an independent part.
  const ts = await runFfmpeg([
    "-hide_banner", "-loglevel", "error",
    "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=7",
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=7",
    "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
    "-c:a", "aac", "-b:a", "64k", "-f", "mpegts", "pipe:1",
  ], { timeoutMs: 30000 });
  const partTarget = 0.334;
  const splitter = new TsSplitter({ targetDuration: 2, maxDuration: maxSegmentDurationFor(2), partTarget });
  const segments: LiveSegment[] = [];
  const announced: number[] = [];
  splitter.on("segment", (s) => {
    segments.push(s);
    assert.equal(s.partTarget, partTarget);
    s.on("part", () => announced.push(s.seq));
  });
  for (let off = 0; off < ts.length; off += 5000) splitter.write(ts.subarray(off, off + 5000));
  splitter.end();
  assert.ok(segments.length >= 3);
  assert.equal(announced.length, segments.reduce((n, s) => n + s.parts.length, 0), "a part event for every part");
  for (const seg of segments) {
    await seg.bytes();
    let offset = 0;
    for (const [i, part] of seg.parts.entries()) {
      assert.equal(part.index, i);
      assert.equal(part.offset, offset, `segment ${seg.seq} part ${i} follows the one before`);
      offset += part.size;
      assert.ok(part.duration <= partTarget + 0.002, `segment ${seg.seq} part ${i} lasts ${part.duration}`);
      const last = i === seg.parts.length - 1;
      if (!last) assert.ok(part.duration >= 0.85 * partTarget - 0.001, `segment ${seg.seq} part ${i} lasts only ${part.duration}`);
    }
    assert.equal(offset, seg.size, "the parts cover the whole segment");
    const sum = seg.parts.reduce((s, p) => s + p.duration, 0);
    assert.ok(Math.abs(sum - seg.duration) < 0.001, `parts add up to ${sum}, segment lasts ${seg.duration}`);
    assert.equal(seg.parts[0]!.independent, true, "the first part starts with the keyframe");
  }
  const middle = segments[1]!;
  const inner = middle.parts.filter((p) => p.independent && p.index > 0);
  assert.equal(inner.length, 1, "the mid-segment keyframe opens an independent part");
  const fromThere = (await middle.bytes()).subarray(inner[0]!.offset);
  assert.equal(((fromThere[1]! & 0x1f) << 8) | fromThere[2]!, 0, "the independent part starts with the PAT");
  const frames = await ffprobe(fromThere, ["-show_frames", "-select_streams", "v", "-read_intervals", "%+#1"]);
  assert.equal(frames.frames?.[0]?.key_frame, 1, "and decodes from its first frame");
});

test("firstTargetDuration: the first segment ends at the first keyframe after it, the others at the target", async () => {
  const ts = await testTs(7, 30);
  const splitter = new TsSplitter({ targetDuration: 2, firstTargetDuration: 1 });
  const segments: LiveSegment[] = [];
  splitter.on("segment", (s) => segments.push(s));
  splitter.write(ts);
  splitter.end();
  assert.ok(Math.abs(segments[0]!.duration - 1) < 0.05, `first lasted ${segments[0]!.duration}`);
  for (const seg of segments.slice(1, -1)) assert.ok(Math.abs(seg.duration - 2) < 0.05, `segment ${seg.seq} lasted ${seg.duration}`);
});
