import { test } from "node:test";
import assert from "node:assert/strict";
import { TsSplitter } from "../../core/mpegts/splitter.ts";
import type { LiveSegment } from "../../core/live-segment.ts";
import { CodecFacts } from "./codec-facts.ts";
import { isSequenceHeader } from "./flv-tag.ts";
import { AUDIO_PID, FlvToTs, PMT_PID, VIDEO_PID } from "./flv-to-ts.ts";
import type { MediaMessage } from "./media-message.ts";
import { readFlvMessages } from "./testing/flv-reader.ts";
import { decodeErrors, encode, probe, remux, type ProbeJson, type ProbePacket } from "./testing/media-tools.ts";
import { messagesFromFile, type ExpectedFrame } from "./testing/probe-messages.ts";
import { inspectTs, pesUnits } from "./testing/ts-inspect.ts";

const WRAP = 2 ** 33;
const DELAY_90K = 700 * 90; // default muxDelayMs
const mod33 = (n: number): number => ((n % WRAP) + WRAP) % WRAP;

const sine = (sec: number): string[] => ["-f", "lavfi", "-i", `sine=frequency=440:sample_rate=48000:duration=${sec}`];
const src = (size: string, sec: number, r = 30): string[] => ["-f", "lavfi", "-i", `testsrc=size=${size}:rate=${r}:duration=${sec}`];
const x264 = (...extra: string[]): string[] => ["-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-sc_threshold", "0", ...extra];
const MP4 = ["-movflags", "frag_keyframe+empty_moov+default_base_moof"];

const CLIPS = {
  bframes: [...src("640x360", 3), ...sine(3), ...x264("-bf", "2"), "-c:a", "aac"],
  noBframes: [...src("640x360", 2), ...sine(2), ...x264("-bf", "0", "-profile:v", "baseline"), "-c:a", "aac", "-ar", "44100"],
  audioOnly: [...sine(2), "-c:a", "aac", "-ac", "2"],
  videoOnly: [...src("854x480", 2), ...x264("-bf", "3", "-profile:v", "high")],
  mp3: [...src("320x240", 2), ...sine(2), ...x264("-bf", "2"), "-c:a", "libmp3lame", "-ar", "44100"],
  restartB: [...src("854x480", 2, 25), ...sine(2), ...x264("-bf", "2"), "-c:a", "aac"],
};

/** Frames of an FLV as ffprobe reads them (time base 1/1000). */
function framesOf(p: ProbeJson): ExpectedFrame[] {
  return (p.packets ?? []).map((pk: ProbePacket) => ({
    kind: pk.codec_type,
    dts: pk.dts ?? pk.pts!,
    pts: pk.pts ?? pk.dts!,
    key: pk.flags.startsWith("K"),
  }));
}

/**
 * Remuxes `messages` and checks the TS against `expected` (the source's frames in ms) with ffprobe:
 * streams, packet counts, keyframes, PTS/DTS (offset by the mux delay, modulo 2^33), and a clean decode.
 */
async function checkRemux(label: string, messages: MediaMessage[], expected: ExpectedFrame[], source?: ProbeJson): Promise<Buffer> {
  const r = remux(messages);
  assert.deepEqual(r.warnings, [], `${label}: no warnings`);
  for (const c of r.chunks) assert.equal(c.length % 188, 0, `${label}: whole packets per batch`);
  const out = await probe(r.ts, ["-show_streams", "-show_packets"], "mpegts");
  for (const kind of ["video", "audio"] as const) {
    const want = expected.filter((f) => f.kind === kind);
    const got = (out.packets ?? []).filter((p) => p.codec_type === kind);
    assert.equal(got.length, want.length, `${label}: ${kind} packet count`);
    const stream = out.streams.find((s) => s.codec_type === kind);
    assert.equal(!!stream, want.length > 0, `${label}: ${kind} stream present`);
    const srcStream = source?.streams.find((s) => s.codec_type === kind);
    if (stream && srcStream) {
      for (const k of ["codec_name", "profile", "width", "height", "sample_rate", "channels"] as const) {
        assert.equal(stream[k], srcStream[k], `${label}: ${kind} ${k}`);
      }
    }
    for (let i = 0; i < want.length; i++) {
      const g = got[i]!;
      const w = want[i]!;
      assert.equal(mod33(g.pts! - DELAY_90K), mod33(w.pts * 90), `${label}: ${kind} #${i} pts`);
      assert.equal(mod33(g.dts! - DELAY_90K), mod33(w.dts * 90), `${label}: ${kind} #${i} dts`);
      if (kind === "video") assert.equal(g.flags.startsWith("K"), w.key, `${label}: video #${i} keyframe flag`);
    }
  }
  assert.equal(await decodeErrors(r.ts), "", `${label}: decodes without errors`);
  return r.ts;
}

async function flvCase(label: string, args: string[]): Promise<{ ts: Buffer; messages: MediaMessage[] }> {
  const flv = await encode(args);
  const messages = readFlvMessages(flv);
  const source = await probe(flv, ["-show_streams", "-show_packets"], "flv");
  const ts = await checkRemux(label, messages, framesOf(source), source);
  return { ts, messages };
}

test("H.264 with B-frames + AAC: streams, packets, keyframes and PTS/DTS match the FLV; decodes cleanly", async () => {
  await flvCase("bframes", CLIPS.bframes);
});

test("the caller may reuse a message's buffer once write returns: the output is the same when each is overwritten after its write", async () => {
  const { ts, messages } = await flvCase("bframes-reused", CLIPS.bframes);
  // One shared buffer per kind, as the RTMP server reuses per chunk stream; scribbled over after each write.
  const shared = { audio: Buffer.alloc(1 << 20), video: Buffer.alloc(1 << 20), script: Buffer.alloc(1 << 20) };
  const chunks: Buffer[] = [];
  const remuxer = new FlvToTs({ onData: (c) => chunks.push(Buffer.from(c)) });
  for (const m of messages) {
    const buf = shared[m.kind];
    m.data.copy(buf);
    remuxer.write({ ...m, data: buf.subarray(0, m.data.length) });
    buf.fill(0xa5, 0, m.data.length);
  }
  assert.ok(Buffer.concat(chunks).equals(ts), "same TS bytes (nothing, e.g. the SPS/PPS put before IDRs, is kept as a view of a message)");
});

test("H.264 Constrained Baseline without B-frames + AAC 44.1k", async () => {
  await flvCase("no-bframes", CLIPS.noBframes);
});

test("audio-only AAC: PCR on the audio PID", async () => {
  const { ts } = await flvCase("audio-only", CLIPS.audioOnly);
  const packets = inspectTs(ts);
  assert.ok(packets.every((p) => p.pid !== VIDEO_PID));
  const audioStarts = packets.filter((p) => p.pid === AUDIO_PID && p.pusi);
  assert.ok(audioStarts.every((p) => p.pcr !== undefined && p.pcr === mod33(p.pts! - DELAY_90K)));
});

test("video-only H.264 854x480 High (3 B-frames)", async () => {
  await flvCase("video-only", CLIPS.videoOnly);
});

test("H.264 + MP3 audio (stream type 0x03)", async () => {
  await flvCase("mp3", CLIPS.mp3);
});

test("HEVC over enhanced RTMP (hvc1, B-frames) + AAC: stream type 0x24, VPS/SPS/PPS in band", async () => {
  const mp4 = await encode([
    ...src("854x480", 2), ...sine(2), "-pix_fmt", "yuv420p",
    "-c:v", "libx265", "-preset", "ultrafast", "-g", "30", "-x265-params", "log-level=error:bframes=3:keyint=30:min-keyint=30:scenecut=0",
    "-c:a", "aac", ...MP4,
  ], "mp4");
  const { messages, frames, probe: source } = await messagesFromFile(mp4, "mp4");
  const ts = await checkRemux("hevc", messages, frames, source);
  const packets = inspectTs(ts);
  const pmt = packets.find((p) => p.pid === PMT_PID)!;
  assert.equal(pmt.payload[1 + 12], 0x24, "first PMT stream is HEVC");
  // Every IRAP access unit: AUD, then VPS, SPS, PPS.
  for (const u of pesUnits(packets, VIDEO_PID)) {
    const es = u.bytes.subarray(9 + u.bytes[8]!);
    assert.deepEqual([...es.subarray(0, 7)], [0, 0, 0, 1, 0x46, 0x01, 0x50], "HEVC AUD first");
    const types: number[] = [];
    for (let i = 0; i + 3 < es.length; i++) if (es[i] === 0 && es[i + 1] === 0 && es[i + 2] === 1) types.push((es[i + 3]! >> 1) & 0x3f);
    if (u.first.rai) assert.deepEqual(types.slice(0, 4), [35, 32, 33, 34], "AUD, VPS, SPS, PPS before an IRAP picture");
    else assert.ok(!types.includes(32), "parameter sets only before IRAP pictures");
  }
  // The same stream as CodedFramesX where the composition time is 0, and in the legacy
  // FLV header with codec id 12 (the pre-standard HEVC-in-FLV extension): byte-identical TS.
  const codedFramesX = messages.map((m) => {
    if (m.kind !== "video" || (m.data[0]! & 0x0f) !== 1 || m.data.readIntBE(5, 3) !== 0) return m;
    return { ...m, data: Buffer.concat([Buffer.from([(m.data[0]! & 0xf0) | 3]), m.data.subarray(1, 5), m.data.subarray(8)]) };
  });
  assert.ok(codedFramesX.some((m, i) => m !== messages[i]));
  assert.ok(remux(codedFramesX).ts.equals(ts), "CodedFramesX");
  const legacy = messages.map((m) => {
    if (m.kind !== "video") return m;
    const frameType = (m.data[0]! >> 4) & 7;
    const packetType = m.data[0]! & 0x0f;
    const head = Buffer.from([(frameType << 4) | 12, packetType, 0, 0, 0]);
    if (packetType === 1) m.data.copy(head, 2, 5, 8);
    return { ...m, data: Buffer.concat([head, m.data.subarray(packetType === 1 ? 8 : 5)]) };
  });
  assert.ok(remux(legacy).ts.equals(ts), "legacy codec id 12");
});

test("H.264 over enhanced RTMP (avc1 FourCC) remuxes like legacy FLV", async () => {
  const mp4 = await encode([...src("320x240", 1), ...x264("-bf", "2"), ...MP4], "mp4");
  const { messages, frames, probe: source } = await messagesFromFile(mp4, "mp4");
  await checkRemux("avc1", messages, frames, source);
});

test("TS structure: PAT/PMT before every keyframe, AUD + SPS/PPS before every IDR, PCR and RAI, continuity counters", async () => {
  const flv = await encode(CLIPS.bframes);
  const { ts } = remux(readFlvMessages(flv));
  const packets = inspectTs(ts);
  // Continuity counters run per PID without gaps; every packet carries payload.
  const cc = new Map<number, number>();
  for (const p of packets) {
    assert.ok(p.hasPayload);
    const prev = cc.get(p.pid);
    if (prev !== undefined) assert.equal(p.cc, (prev + 1) & 15, `cc of PID ${p.pid} at packet ${p.index}`);
    cc.set(p.pid, p.cc);
  }
  const units = pesUnits(packets, VIDEO_PID);
  let keyframes = 0;
  for (const u of units) {
    const first = u.first;
    // PCR on the video PID in each access unit's first packet, the mux delay before its DTS.
    assert.equal(first.pcr, mod33(first.dts! - DELAY_90K), `PCR of packet ${first.index}`);
    const es = u.bytes.subarray(9 + u.bytes[8]!);
    assert.deepEqual([...es.subarray(0, 6)], [0, 0, 0, 1, 0x09, 0xf0], "AUD starts every access unit");
    const nalTypes: number[] = [];
    for (let i = 0; i + 3 < es.length; i++) {
      if (es[i] === 0 && es[i + 1] === 0 && es[i + 2] === 1) nalTypes.push(es[i + 3]! & 0x1f);
    }
    if (first.rai) {
      keyframes++;
      assert.deepEqual(nalTypes.slice(0, 3), [9, 7, 8], "AUD, SPS, PPS before the IDR");
      assert.ok(nalTypes.includes(5), "keyframe has an IDR slice");
      assert.equal(packets[first.index - 2]?.pid, 0, "PAT right before the keyframe");
      assert.equal(packets[first.index - 1]?.pid, PMT_PID, "PMT right before the keyframe");
    } else {
      assert.ok(!nalTypes.includes(5) && !nalTypes.includes(7), "no IDR/SPS in other frames");
    }
  }
  assert.equal(keyframes, 3, "3 s at -g 30 has 3 keyframes");
  // Tables also come at least every 500 ms: between keyframes 1 s apart there is one more.
  assert.ok(packets.filter((p) => p.pid === 0).length >= 5);
});

test("segments cut by TsSplitter at keyframes are each independently decodable", async () => {
  const flv = await encode(CLIPS.bframes);
  const { ts } = remux(readFlvMessages(flv));
  const splitter = new TsSplitter({ targetDuration: 1 });
  const segments: LiveSegment[] = [];
  splitter.on("segment", (s) => segments.push(s));
  for (let off = 0; off < ts.length; off += 7000) splitter.write(ts.subarray(off, off + 7000));
  splitter.end();
  assert.equal(segments.length, 3);
  for (const seg of segments) {
    // The last segment's end is TsSplitter's estimate (last PTS of any stream + a frame).
    if (seg !== segments.at(-1)) assert.ok(Math.abs(seg.duration - 1) < 0.05, `segment ${seg.seq} lasts ${seg.duration}`);
    const bytes = await seg.bytes();
    assert.equal(await decodeErrors(bytes), "", `segment ${seg.seq} decodes on its own`);
    const p = await probe(bytes, ["-show_streams", "-show_frames", "-select_streams", "v", "-read_intervals", "%+#1"], "mpegts");
    assert.equal(p.streams[0]?.width, 640);
    assert.equal(p.frames?.[0]?.key_frame, 1, `segment ${seg.seq} starts with a keyframe`);
  }
});

/** Timestamps moved by `shiftMs` and wrapped to 32 bits, as an RTMP server delivers them. */
function shifted(messages: MediaMessage[], shiftMs: number): MediaMessage[] {
  return messages.map((m) => ({ ...m, timestampMs: (m.timestampMs + shiftMs) % 2 ** 32 }));
}

async function checkWrap(label: string, clip: string[], shiftMs: number): Promise<void> {
  const flv = await encode(clip);
  const source = await probe(flv, ["-show_streams", "-show_packets"], "flv");
  const messages = shifted(readFlvMessages(flv), shiftMs);
  const expected = framesOf(source).map((f) => ({ ...f, dts: f.dts + shiftMs, pts: f.pts + shiftMs }));
  const ts = await checkRemux(label, messages, expected, source);
  // ffprobe unwraps the 33-bit clock: its DTS keep increasing through the wrap.
  const out = await probe(ts, ["-show_packets", "-select_streams", "v"], "mpegts");
  const dts = (out.packets ?? []).map((p) => p.dts!);
  for (let i = 1; i < dts.length; i++) assert.ok(dts[i]! > dts[i - 1]!, `${label}: DTS increases at #${i}`);
}

/** Cuts with TsSplitter (1 s target); asserts every segment but the last lasts 1 s. */
function assertSplitterSegments(label: string, ts: Buffer, count: number): void {
  const splitter = new TsSplitter({ targetDuration: 1 });
  const segments: LiveSegment[] = [];
  splitter.on("segment", (s) => segments.push(s));
  splitter.write(ts);
  splitter.end();
  assert.equal(segments.length, count, `${label}: segments`);
  for (const s of segments.slice(0, -1)) assert.ok(Math.abs(s.duration - 1) < 0.05, `${label}: segment ${s.seq} lasts ${s.duration}`);
}

// 2^32 ms * 90 is a multiple of 2^33, so the FLV wrap and a PTS wrap coincide (700 ms mux delay later).
const FLV_WRAP_SHIFT = 2 ** 32 - 1500;
// PTS reaches 2^33 1.5 s into the clip while FLV timestamps stay far from 2^32.
const PTS_WRAP_SHIFT = Math.floor(WRAP / 90) - 1500 - 700;

test("32-bit FLV timestamp wrap (start 1.5 s before 2^32 ms)", async () => {
  await checkWrap("flv-wrap", CLIPS.bframes, FLV_WRAP_SHIFT);
});

test("33-bit PTS wrap (start 1.5 s before PTS 2^33)", async () => {
  await checkWrap("pts-wrap", CLIPS.bframes, PTS_WRAP_SHIFT);
});

test("TsSplitter cuts our TS across the 33-bit wrap (no B-frames)", async () => {
  const messages = readFlvMessages(await encode(CLIPS.noBframes));
  assertSplitterSegments("pts-wrap", remux(shifted(messages, PTS_WRAP_SHIFT)).ts, 2);
  assertSplitterSegments("flv-wrap", remux(shifted(messages, FLV_WRAP_SHIFT)).ts, 2);
});

test("TsSplitter across the 33-bit wrap with B-frames (PTS going back and forth across it)", async () => {
  const messages = readFlvMessages(await encode(CLIPS.bframes));
  assertSplitterSegments("pts-wrap b-frames", remux(shifted(messages, PTS_WRAP_SHIFT)).ts, 3);
});

test("encoder restart: new sequence header at another resolution, timestamps back to 0", async () => {
  const a = readFlvMessages(await encode(CLIPS.bframes));
  const b = readFlvMessages(await encode(CLIPS.restartB));
  const r = remux([...a, ...b]);
  assert.deepEqual(r.warnings, []);
  const stats = r.remuxer.stats;
  assert.equal(stats.timestampJumps, 2, "video and audio each bridged once");
  assert.equal(stats.droppedFrames, 0);
  // vfr: ffmpeg's null output otherwise forces one frame rate (probed as 25) on both sessions.
  assert.equal(await decodeErrors(r.ts, "mpegts", ["-fps_mode", "vfr"]), "");
  const p = await probe(r.ts, ["-show_packets", "-select_streams", "v"], "mpegts");
  const decoded = await probe(r.ts, ["-show_frames", "-select_streams", "v"], "mpegts");
  const sizes = new Set((decoded.frames ?? []).map((f) => `${f.width}x${f.height}`));
  assert.deepEqual([...sizes], ["640x360", "854x480"]);
  const frames = (ms: MediaMessage[]): number => ms.filter((m) => m.kind === "video" && m.data[1] === 1).length;
  const videoA = frames(a);
  const videoB = frames(b);
  assert.equal(p.packets?.length, videoA + videoB);
  const dts = (p.packets ?? []).map((x) => x.dts!);
  for (let i = 1; i < dts.length; i++) assert.ok(dts[i]! > dts[i - 1]!, `DTS increases at #${i}`);
  // The second session continues one frame after the first.
  const gap = dts[videoA]! - dts[videoA - 1]!;
  assert.ok(Math.abs(gap - 3000) <= 90, `one 30 fps frame (in whole ms) at the restart, got ${gap}`);
  // Facts follow the restart.
  const facts = new CodecFacts();
  for (const m of [...a, ...b]) facts.observe(m);
  assert.deepEqual([facts.facts.width, facts.facts.height, facts.facts.fps], [854, 480, 25]);
});

test("an audio sequence header arriving after video started updates the PMT (new version) and both streams play", async () => {
  const flv = await encode(CLIPS.bframes);
  const messages = readFlvMessages(flv);
  const audioConfig = messages.findIndex((m) => m.kind === "audio");
  const [cfg] = messages.splice(audioConfig, 1);
  // Drop audio frames before the late header, put the header after 10 video frames.
  const at = messages.findIndex((m, i) => i > 10 && m.kind === "video");
  const late = [...messages.slice(0, at).filter((m) => m.kind !== "audio"), cfg!, ...messages.slice(at)];
  const r = remux(late);
  const packets = inspectTs(r.ts);
  const versions = new Set(packets.filter((p) => p.pid === PMT_PID).map((p) => (p.payload[1 + 5]! >> 1) & 0x1f));
  assert.deepEqual([...versions], [0, 1]);
  assert.equal(await decodeErrors(r.ts), "");
  const p = await probe(r.ts, ["-show_streams"], "mpegts");
  assert.deepEqual(p.streams.map((s) => s.codec_name).sort(), ["aac", "h264"]);
});

test("frames before their sequence header and non-keyframes before the first keyframe are dropped", async () => {
  const messages = readFlvMessages(await encode(CLIPS.bframes));
  const videoCfg = messages.find((m) => m.kind === "video")!;
  const videoFrames = messages.filter((m) => m.kind === "video" && m !== videoCfg);
  // Start mid-GOP: 5 frames without a header, then the header, then the rest from a non-keyframe.
  const input = [...videoFrames.slice(0, 5), videoCfg, ...videoFrames.slice(5)];
  const r = remux(input);
  assert.ok(r.warnings.some((w) => /before its sequence header/.test(w)));
  assert.equal(r.remuxer.stats.droppedFrames, 5 + 25, "5 without header + rest of the first GOP");
  assert.equal(r.remuxer.stats.videoFrames, 60);
  assert.equal(await decodeErrors(r.ts), "");
});

test("H.264 samples carrying Annex B start codes instead of lengths are accepted", async () => {
  const messages = readFlvMessages(await encode([...src("320x240", 1), ...x264("-bf", "0")]));
  const annexB = messages.map((m) => {
    if (m.kind !== "video" || m.data[1] !== 1) return m;
    const parts: Buffer[] = [m.data.subarray(0, 5)];
    for (let off = 5; off < m.data.length; ) {
      const len = m.data.readUInt32BE(off);
      parts.push(Buffer.from([0, 0, 0, 1]), m.data.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    return { ...m, data: Buffer.concat(parts) };
  });
  const r = remux(annexB);
  assert.equal(r.warnings.length, 1);
  assert.equal(r.remuxer.stats.videoFrames, 30);
  assert.equal(await decodeErrors(r.ts), "");
});

test("unsupported codecs are reported once and dropped; script messages ignored", () => {
  const r = remux([
    { kind: "script", timestampMs: 0, data: Buffer.from("02000a6f6e4d65746144617461", "hex") },
    { kind: "video", timestampMs: 0, data: Buffer.from([0x22, 1, 2, 3]) }, // Sorenson H.263
    { kind: "video", timestampMs: 33, data: Buffer.from([0x22, 1, 2, 3]) },
    { kind: "video", timestampMs: 0, data: Buffer.from([0x90, 0x61, 0x76, 0x30, 0x31, 1, 2]) }, // av01
    { kind: "audio", timestampMs: 0, data: Buffer.from([0x62, 1, 2]) }, // Nellymoser
  ]);
  assert.equal(r.ts.length, 0);
  assert.deepEqual(r.warnings, [
    "unsupported FLV video codec id 2: video dropped",
    'unsupported video FourCC "av01": video dropped',
    "unsupported FLV audio format 6: audio dropped",
  ]);
});

test("corrupted messages never throw and every batch stays whole 188-byte packets", async () => {
  const messages = readFlvMessages(await encode(CLIPS.noBframes));
  let seed = 42;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  let bytes = 0;
  const remuxer = new FlvToTs({
    onData: (c) => {
      assert.equal(c.length % 188, 0);
      bytes += c.length;
    },
  });
  for (let round = 0; round < 3; round++) {
    for (const m of messages) {
      const data = Buffer.from(m.data.subarray(0, rnd() < 0.2 ? Math.floor(rnd() * m.data.length) : m.data.length));
      for (let k = 0; k < 4; k++) if (data.length && rnd() < 0.3) data[Math.floor(rnd() * Math.min(data.length, 64))] = Math.floor(rnd() * 256);
      remuxer.write({ kind: m.kind, timestampMs: Math.floor(rnd() * 2 ** 32), data });
    }
  }
  assert.ok(bytes > 0);
});

test("isSequenceHeader: AVC/HEVC/enhanced video and AAC sequence headers, nothing else", () => {
  assert.equal(isSequenceHeader("video", Buffer.from([0x17, 0, 0, 0, 0])), true, "AVC sequence header");
  assert.equal(isSequenceHeader("video", Buffer.from([0x17, 1, 0, 0, 0])), false, "AVC keyframe");
  assert.equal(isSequenceHeader("video", Buffer.from([0x27, 1, 0, 0, 0])), false, "AVC inter frame");
  assert.equal(isSequenceHeader("video", Buffer.from([0x90, 0x68, 0x76, 0x63, 0x31])), true, "enhanced SequenceStart hvc1");
  assert.equal(isSequenceHeader("video", Buffer.from([0x91, 0x68, 0x76, 0x63, 0x31])), false, "enhanced CodedFrames");
  assert.equal(isSequenceHeader("audio", Buffer.from([0xaf, 0, 0x11, 0x90])), true, "AAC sequence header");
  assert.equal(isSequenceHeader("audio", Buffer.from([0xaf, 1, 0x21])), false, "AAC frame");
  assert.equal(isSequenceHeader("audio", Buffer.from([0x2f, 0xff])), false, "MP3");
  assert.equal(isSequenceHeader("script", Buffer.from([2, 0])), false);
});
