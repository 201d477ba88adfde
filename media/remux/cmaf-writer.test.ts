import { test } from "node:test";
import assert from "node:assert/strict";
import { CmafWriter, type CmafFragment, type CmafWriterOptions } from "./cmaf-writer.ts";
import type { MediaMessage } from "./media-message.ts";
import { readFlvMessages } from "./testing/flv-reader.ts";
import { decodeErrors, encode, probe, type ProbeJson } from "./testing/media-tools.ts";
import { messagesFromFile } from "./testing/probe-messages.ts";

const sine = (sec: number): string[] => ["-f", "lavfi", "-i", `sine=frequency=440:sample_rate=48000:duration=${sec}`];
const src = (size: string, sec: number, r = 30): string[] => ["-f", "lavfi", "-i", `testsrc=size=${size}:rate=${r}:duration=${sec}`];
const x264 = (...extra: string[]): string[] => ["-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-sc_threshold", "0", ...extra];

interface Output {
  inits: Buffer[];
  fragments: CmafFragment[];
  /** Init segments and fragments in the order they came. */
  all: Buffer[];
  warnings: string[];
}

function write(messages: MediaMessage[], opts: Partial<CmafWriterOptions> = {}): Output {
  const out: Output = { inits: [], fragments: [], all: [], warnings: [] };
  const w = new CmafWriter({
    onInit: (b) => {
      out.inits.push(b);
      out.all.push(b);
    },
    onFragment: (f) => {
      out.fragments.push(f);
      out.all.push(f.bytes);
    },
    onWarning: (m) => out.warnings.push(m),
    ...opts,
  });
  for (const m of messages) w.write(m);
  w.end();
  return out;
}

function packetsOf(p: ProbeJson, kind: string) {
  return (p.packets ?? []).filter((x) => x.codec_type === kind);
}

test("CMAF of H.264 (B-frames) + AAC: same packets, keyframes and timestamps as the FLV; parts of 500 ms; decodes cleanly", async () => {
  const flv = await encode([...src("640x360", 3), ...sine(3), ...x264("-bf", "2"), "-c:a", "aac"]);
  const out = write(readFlvMessages(flv), { fragmentMs: 500 });
  assert.deepEqual(out.warnings, []);
  assert.equal(out.inits.length, 1);
  assert.deepEqual(out.fragments.map((f) => f.sequence), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(out.fragments.map((f) => f.independent), [true, false, true, false, true, false]);
  for (const f of out.fragments) assert.ok(Math.abs(f.durationMs - 500) <= 35, `fragment ${f.sequence} lasts ${f.durationMs}`);
  const mp4 = Buffer.concat(out.all);
  assert.equal(await decodeErrors(mp4, "mp4"), "");
  const [source, got] = await Promise.all([
    probe(flv, ["-show_streams", "-show_packets"], "flv"),
    probe(mp4, ["-show_streams", "-show_packets"], "mp4"),
  ]);
  for (const kind of ["video", "audio"]) {
    const s = source.streams.find((x) => x.codec_type === kind)!;
    const g = got.streams.find((x) => x.codec_type === kind)!;
    for (const k of ["codec_name", "profile", "width", "height", "sample_rate", "channels"] as const) assert.equal(g[k], s[k], `${kind} ${k}`);
    const sp = packetsOf(source, kind);
    const gp = packetsOf(got, kind);
    assert.equal(gp.length, sp.length, `${kind} packets`);
    const scale = kind === "video" ? 90 : Number(s.sample_rate) / 1000;
    sp.forEach((p, i) => {
      assert.equal(gp[i]!.dts, Math.round(p.dts! * scale), `${kind} #${i} dts`);
      assert.equal(gp[i]!.pts, Math.round(p.dts! * scale) + (kind === "video" ? (p.pts! - p.dts!) * 90 : 0), `${kind} #${i} pts`);
      assert.equal(gp[i]!.flags.startsWith("K"), p.flags.startsWith("K"), `${kind} #${i} key`);
    });
  }
  // An independent part plays after the init segment alone. (vfr: on a clip this short, ffmpeg's null
  // output otherwise rounds the whole-millisecond frame times onto a 1/30 s grid and complains.)
  const part = Buffer.concat([out.inits[0]!, out.fragments[2]!.bytes, out.fragments[3]!.bytes]);
  assert.equal(await decodeErrors(part, "mp4", ["-fps_mode", "vfr"]), "");
  const frames = await probe(part, ["-show_frames", "-select_streams", "v"], "mp4");
  assert.equal(frames.frames?.length, 30);
  assert.equal(frames.frames?.[0]?.key_frame, 1);
});

test("CMAF of HEVC from enhanced RTMP: hvc1 sample entry, decodes cleanly", async () => {
  const file = await encode([
    ...src("854x480", 1), "-pix_fmt", "yuv420p", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:bframes=2",
    "-movflags", "frag_keyframe+empty_moov+default_base_moof",
  ], "mp4");
  const { messages, frames } = await messagesFromFile(file, "mp4");
  const out = write(messages);
  const mp4 = Buffer.concat(out.all);
  assert.equal(await decodeErrors(mp4, "mp4"), "");
  const p = await probe(mp4, ["-show_streams", "-show_packets"], "mp4");
  assert.deepEqual([p.streams[0]!.codec_name, p.streams[0]!.width, p.streams[0]!.height], ["hevc", 854, 480]);
  assert.equal(p.packets?.length, frames.length);
});

test("CMAF audio-only (AAC and MP3): fragments by duration", async () => {
  for (const codec of [["-c:a", "aac"], ["-c:a", "libmp3lame", "-ar", "44100"]]) {
    const flv = await encode([...sine(2), ...codec]);
    const out = write(readFlvMessages(flv), { fragmentMs: 400 });
    assert.deepEqual(out.warnings, []);
    assert.ok(out.fragments.length >= 5 && out.fragments.every((f) => f.independent));
    const mp4 = Buffer.concat(out.all);
    assert.equal(await decodeErrors(mp4, "mp4"), "");
    const [s, g] = await Promise.all([probe(flv, ["-show_packets", "-show_streams"], "flv"), probe(mp4, ["-show_packets", "-show_streams"], "mp4")]);
    assert.equal(g.streams[0]!.codec_name, s.streams[0]!.codec_name);
    assert.equal(g.packets?.length, s.packets?.length);
  }
});

test("CMAF: a new sequence header (restart at another size) closes the fragment and brings a new init segment", async () => {
  const a = readFlvMessages(await encode([...src("640x360", 1), ...sine(1), ...x264("-bf", "2"), "-c:a", "aac"]));
  const b = readFlvMessages(await encode([...src("854x480", 1), ...sine(1), ...x264("-bf", "2"), "-c:a", "aac"]));
  const out = write([...a, ...b]);
  assert.equal(out.inits.length, 2);
  const second = out.all.indexOf(out.inits[1]!);
  const before = Buffer.concat(out.all.slice(0, second));
  const after = Buffer.concat(out.all.slice(second));
  for (const [part, width] of [[before, 640], [after, 854]] as const) {
    assert.equal(await decodeErrors(part, "mp4"), "");
    const p = await probe(part, ["-show_streams"], "mp4");
    assert.equal(p.streams.find((s) => s.codec_type === "video")?.width, width);
  }
  // Decode times continue across the restart.
  const starts = out.fragments.map((f) => f.startMs);
  for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! > starts[i - 1]!);
});
