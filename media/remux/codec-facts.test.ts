import { test } from "node:test";
import assert from "node:assert/strict";
import { LiveSegment } from "../../core/live-segment.ts";
import { TsSplitter } from "../../core/mpegts/splitter.ts";
import { probeSource } from "../hub/probe.ts";
import { aacFacts, CodecFacts, fpsFromSpan, type StreamFacts } from "./codec-facts.ts";
import type { MediaMessage } from "./media-message.ts";
import { readFlvMessages } from "./testing/flv-reader.ts";
import { encode, probe, rate, remux, type ProbeJson } from "./testing/media-tools.ts";
import { messagesFromFile } from "./testing/probe-messages.ts";

function collect(messages: MediaMessage[], opts?: ConstructorParameters<typeof CodecFacts>[0]): CodecFacts {
  const facts = new CodecFacts(opts);
  for (const m of messages) facts.observe(m);
  return facts;
}

/** Rounded like media/hub/probe.ts does. */
function probeFps(s: { avg_frame_rate?: string; r_frame_rate?: string }): number | undefined {
  const r = rate(s.avg_frame_rate) ?? rate(s.r_frame_rate);
  return r === undefined ? undefined : Math.round(r * 100) / 100;
}

function assertMatchesProbe(facts: StreamFacts, p: ProbeJson, label: string): void {
  const v = p.streams.find((s) => s.codec_type === "video");
  const a = p.streams.find((s) => s.codec_type === "audio");
  if (v) {
    assert.equal(facts.videoCodec, v.codec_name, `${label}: codec`);
    assert.equal(facts.width, v.width, `${label}: width`);
    assert.equal(facts.height, v.height, `${label}: height`);
    assert.equal(facts.videoProfile, v.profile, `${label}: profile`);
    assert.equal(facts.videoLevel, v.level, `${label}: level`);
    assert.equal(facts.fps, probeFps(v), `${label}: fps`);
  } else {
    assert.equal(facts.videoCodec, undefined, `${label}: no video`);
  }
  if (a) {
    assert.equal(facts.audioCodec, a.codec_name, `${label}: audio codec`);
    assert.equal(facts.audioSampleRate, Number(a.sample_rate), `${label}: sample rate`);
    assert.equal(facts.audioChannels, a.channels, `${label}: channels`);
  } else {
    assert.equal(facts.audioCodec, undefined, `${label}: no audio`);
  }
}

/** The first segment of our remuxed TS through today's ffprobe path (media/hub/probe.ts). */
async function probeSourceOfRemux(messages: MediaMessage[]) {
  const { ts } = remux(messages);
  const splitter = new TsSplitter({ targetDuration: 1 });
  let first: LiveSegment | undefined;
  splitter.on("segment", (s) => (first ??= s));
  splitter.write(ts);
  splitter.end();
  assert.ok(first, "remuxed stream has a segment");
  return probeSource(first);
}

const sine = (sec: number, extra = ""): string[] => ["-f", "lavfi", "-i", `sine=frequency=440:sample_rate=48000:duration=${sec}${extra}`];
const src = (size: string, sec: number, r = 30): string[] => ["-f", "lavfi", "-i", `testsrc=size=${size}:rate=${r}:duration=${sec}`];
const x264 = (...extra: string[]): string[] => ["-c:v", "libx264", "-preset", "veryfast", "-g", "30", ...extra];

// Custom quantisation matrices make x264 write explicit scaling lists into the SPS.
const CQM4 = Array.from({ length: 16 }, (_, i) => 16 + (i % 5)).join(",");
const CQM8 = Array.from({ length: 64 }, (_, i) => 16 + (i % 7)).join(",");

const H264_VARIANTS: Array<{ name: string; args: string[] }> = [
  { name: "High 640x360 (crop 8 rows) with AAC 48k stereo", args: [...src("640x360", 1), ...sine(1), "-pix_fmt", "yuv420p", ...x264("-bf", "2"), "-c:a", "aac", "-ac", "2"] },
  { name: "Constrained Baseline 320x240 with AAC 22.05k mono", args: [...src("320x240", 1, 25), ...sine(1), "-pix_fmt", "yuv420p", ...x264("-profile:v", "baseline"), "-c:a", "aac", "-ar", "22050", "-ac", "1"] },
  { name: "Main 854x480 (crop 10 columns), 29.97 fps", args: [...src("854x480", 1, 30000 / 1001), "-pix_fmt", "yuv420p", ...x264("-profile:v", "main")] },
  { name: "High 854x480 with custom scaling lists", args: [...src("854x480", 1), "-pix_fmt", "yuv420p", ...x264("-x264-params", `cqm4=${CQM4}:cqm8=${CQM8}`)] },
  { name: "High 4:4:4 Predictive 853x481 (odd sizes) with 12 scaling lists", args: [...src("853x481", 1), "-pix_fmt", "yuv444p", ...x264("-x264-params", `cqm4=${CQM4}:cqm8=${CQM8}`)] },
  { name: "High 4:2:2 10-bit 854x479", args: [...src("854x479", 1), "-pix_fmt", "yuv422p10le", ...x264()] },
  { name: "High 10 1280x720", args: [...src("1280x720", 1), "-pix_fmt", "yuv420p10le", ...x264()] },
  { name: "High monochrome 853x481", args: [...src("853x481", 1), "-pix_fmt", "gray", ...x264()] },
  { name: "High interlaced (MBAFF) 640x360, 25 fps", args: [...src("640x360", 1, 25), "-pix_fmt", "yuv420p", ...x264("-flags", "+ildct+ilme", "-x264-params", "tff=1")] },
  { name: "audio only AAC 44.1k", args: [...sine(1), "-ar", "44100", "-c:a", "aac"] },
  { name: "audio only MP3 44.1k stereo", args: [...sine(1), "-ar", "44100", "-ac", "2", "-c:a", "libmp3lame"] },
];

for (const variant of H264_VARIANTS) {
  test(`facts equal ffprobe's: ${variant.name}`, async () => {
    const flv = await encode(variant.args);
    const messages = readFlvMessages(flv);
    const facts = collect(messages);
    assert.equal(facts.lastError, undefined);
    assert.ok(facts.ready, "facts ready");
    const p = await probe(flv, ["-show_streams"], "flv");
    assertMatchesProbe(facts.facts, p, variant.name);
    if (facts.facts.videoCodec) assert.equal(facts.facts.fpsSource, "vui");
    // Today's path: ffprobe of the first segment, here of our own remuxed TS.
    const today = await probeSourceOfRemux(messages);
    const ours = facts.sourceInfo();
    for (const k of ["videoCodec", "videoProfile", "width", "height", "fps", "audioCodec", "audioSampleRate", "audioChannels"] as const) {
      assert.equal(ours[k], today[k], `${variant.name}: ${k} vs probeSource`);
    }
  });
}

test("H.264 codec strings carry the SPS profile, constraint flags and level", async () => {
  const base = readFlvMessages(await encode(H264_VARIANTS[1]!.args));
  assert.equal(collect(base).facts.hlsCodecs, "avc1.42c00d,mp4a.40.2");
  const high = readFlvMessages(await encode(H264_VARIANTS[0]!.args));
  assert.equal(collect(high).facts.hlsCodecs, "avc1.64001e,mp4a.40.2");
  const mp3 = readFlvMessages(await encode(H264_VARIANTS[10]!.args));
  assert.equal(collect(mp3).facts.hlsCodecs, "mp4a.40.34");
});

const x265 = (params: string): string[] => ["-c:v", "libx265", "-preset", "ultrafast", "-g", "30", "-x265-params", `log-level=error:${params}`];
const MP4 = ["-movflags", "frag_keyframe+empty_moov+default_base_moof"];

test("HEVC facts (enhanced RTMP hvc1) equal ffprobe's: Main 854x480 with AAC", async () => {
  const mp4 = await encode([...src("854x480", 1), ...sine(1), "-pix_fmt", "yuv420p", ...x265("bframes=2"), "-c:a", "aac", ...MP4], "mp4");
  const { messages, probe: p } = await messagesFromFile(mp4, "mp4");
  const facts = collect(messages);
  assert.equal(facts.lastError, undefined);
  assertMatchesProbe(facts.facts, p, "hevc main");
  assert.equal(facts.facts.fpsSource, "vui");
  // Main (compatible with Main and Main 10), level 3, progressive + frame-only constraint flags.
  assert.equal(facts.facts.hlsCodecs, "hvc1.1.6.L90.90,mp4a.40.2");
});

test("HEVC facts: Main 10 853x481 4:4:4 is Rext; odd sizes from the conformance window", async () => {
  const mp4 = await encode([...src("853x481", 1), "-pix_fmt", "yuv444p10le", ...x265("bframes=0"), ...MP4], "mp4");
  const { messages, probe: p } = await messagesFromFile(mp4, "mp4");
  const facts = collect(messages);
  assertMatchesProbe(facts.facts, p, "hevc rext");
  assert.equal(facts.facts.videoProfile, "Rext");
  assert.equal(facts.facts.videoBitDepth, 10);
  assert.equal(facts.facts.videoChromaFormat, 3);
});

test("frame rate from timestamps when the bitstream signals none (HEVC without VUI timing)", async () => {
  const mp4 = await encode([...src("320x240", 3, 25), "-pix_fmt", "yuv420p", ...x265("vui-timing-info=0:hrd=0"), ...MP4], "mp4");
  const { messages, probe: p } = await messagesFromFile(mp4, "mp4");
  const facts = new CodecFacts();
  let readyAt = -1;
  messages.forEach((m, i) => {
    facts.observe(m);
    if (readyAt < 0 && facts.ready) readyAt = i;
  });
  assert.equal(facts.facts.fpsSource, "timestamps");
  assert.equal(facts.facts.fps, 25);
  assert.equal(facts.facts.fps, probeFps(p.streams[0]!));
  assert.ok(readyAt >= 60, "not ready before 60 frames were seen");
});

test("fpsFromSpan snaps to common rates and keeps others", () => {
  assert.equal(fpsFromSpan(61, 2002), 29.97); // 29.97 fps in whole milliseconds
  assert.equal(fpsFromSpan(61, 2000), 30);
  assert.equal(fpsFromSpan(60, 59 * 41.708), 23.976);
  assert.equal(fpsFromSpan(11, 1000), 10);
  assert.equal(fpsFromSpan(31, 1000 * 30 / 12.5), 12.5);
  assert.equal(fpsFromSpan(1, 0), undefined);
});

test("AAC facts: HE-AAC and HE-AACv2 with explicit SBR signalling report the output rate", () => {
  // AOT 5, core 24000 (idx 6), stereo, extension 48000 (idx 3), core AOT 2.
  const he = aacFacts(Buffer.from([0x2b, 0x11, 0x88, 0x00]));
  assert.deepEqual([he.audioSampleRate, he.audioChannels, he.audioCodecString, he.audioProfile], [48000, 2, "mp4a.40.5", "HE-AAC"]);
  // AOT 29, core 22050 (idx 7), mono (PS makes stereo), extension 44100 (idx 4), core AOT 2.
  const ps = aacFacts(Buffer.from([0xeb, 0x8a, 0x08, 0x00]));
  assert.deepEqual([ps.audioSampleRate, ps.audioChannels, ps.audioCodecString], [44100, 2, "mp4a.40.29"]);
  // Escape sample rate index 15 with an explicit 24-bit rate.
  const explicit = aacFacts(Buffer.from([0x17, 0x80, 0x01, 0xf4, 0x08]));
  assert.equal(explicit.audioSampleRate, 1000);
});

test("a new sequence header (encoder restart at another size) replaces the video facts", async () => {
  const a = readFlvMessages(await encode(H264_VARIANTS[0]!.args));
  const b = readFlvMessages(await encode(H264_VARIANTS[2]!.args));
  const facts = new CodecFacts();
  for (const m of a) facts.observe(m);
  assert.deepEqual([facts.facts.width, facts.facts.height, facts.facts.fps], [640, 360, 30]);
  let changed = false;
  for (const m of b) changed = facts.observe(m) || changed;
  assert.ok(changed);
  assert.deepEqual([facts.facts.width, facts.facts.height, facts.facts.fps, facts.facts.videoProfile], [854, 480, 29.97, "Main"]);
  // Audio facts of the first session stay: the second has no audio.
  assert.equal(facts.facts.audioSampleRate, 48000);
});

test("garbage never throws; a malformed header leaves facts untouched and says why", () => {
  const facts = new CodecFacts();
  const good = Buffer.from("17000000000164001effe1001a6764001eacd940a02ff970110000030001000003003c0f162d9601000468ef8fcbfdf8f800", "hex");
  facts.observe({ kind: "video", timestampMs: 0, data: good });
  assert.equal(facts.facts.width, 640);
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 3000; i++) {
    const data = Buffer.from(good.subarray(0, Math.floor(rnd() * (good.length + 1))));
    for (let k = 0; k < 3; k++) if (data.length) data[Math.floor(rnd() * data.length)] = Math.floor(rnd() * 256);
    facts.observe({ kind: rnd() < 0.5 ? "video" : "audio", timestampMs: i, data });
  }
  assert.ok(facts.lastError, "some header was reported as unreadable");
});
