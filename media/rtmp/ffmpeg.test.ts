// The RTMP server with real ffmpeg publishers: media arrives complete, in order, with sane timestamps.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ffprobe } from "../../core/ffmpeg.ts";
import { RtmpServer, type RtmpMedia, type RtmpPublishRequest } from "./server.ts";
import { pushWithFfmpeg } from "./test-publisher.ts";

const KEY = "sk_ffmpeg_0123456789";

interface Run {
  req?: RtmpPublishRequest;
  media: RtmpMedia[];
  flv: Buffer[];
  closed: boolean;
}

let server: RtmpServer;
let runs: Run[] = [];
let refuseNext = false;
const logs: string[] = [];

before(async () => {
  server = new RtmpServer({
    host: "127.0.0.1",
    port: 0,
    onLog: (level, msg, fields) => logs.push(JSON.stringify({ level, msg, ...fields })),
    onPublish: async (req, publisher) => {
      if (refuseNext) return "unknown stream key";
      const run: Run = { req, media: [], flv: [], closed: false };
      runs.push(run);
      publisher.onMedia((m) => run.media.push(m));
      publisher.onFlv((c) => run.flv.push(c));
      publisher.onClose(() => (run.closed = true));
      return true;
    },
  });
  await server.start();
});

after(async () => {
  await server.stop();
});

function byKind(run: Run, kind: RtmpMedia["kind"]): RtmpMedia[] {
  return run.media.filter((m) => m.kind === kind);
}

function assertSteady(ms: RtmpMedia[], label: string): void {
  for (let i = 1; i < ms.length; i++) {
    const step = ms[i]!.timestampMs - ms[i - 1]!.timestampMs;
    assert.ok(step >= 0 && step < 200, `${label} timestamp step ${step} ms at #${i} (${ms[i - 1]!.timestampMs} -> ${ms[i]!.timestampMs})`);
  }
}

test("ffmpeg publishes 3 s: metadata, sequence headers, ~90 frames and ~140 AAC frames with steady timestamps; the FLV output probes as H.264+AAC", { timeout: 30000 }, async () => {
  runs = [];
  const pub = pushWithFfmpeg(`rtmp://127.0.0.1:${server.port}/live/${KEY}?session=abc`, 3);
  const { code } = await pub.exited;
  assert.equal(code, 0, pub.stderrTail());
  const run = runs[0]!;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(run.closed, true, "publish ended when ffmpeg left");
  assert.equal(run.req?.app, "live");
  assert.equal(run.req?.name, KEY);

  const script = byKind(run, "script");
  assert.ok(script[0]!.data.includes(Buffer.from("onMetaData")), "metadata first");
  assert.equal(script[0]!.data[0], 0x02, "script data starts with the AMF0 string onMetaData");
  assert.ok(!script[0]!.data.includes(Buffer.from("@setDataFrame")));

  const video = byKind(run, "video");
  const audio = byKind(run, "audio");
  assert.deepEqual([video[0]!.data[0], video[0]!.data[1]], [0x17, 0], "AVC sequence header first");
  assert.deepEqual([audio[0]!.data[0]! >> 4, audio[0]!.data[1]], [10, 0], "AAC sequence header first");
  const frames = video.filter((m) => m.data[1] === 1);
  assert.ok(frames.length >= 85 && frames.length <= 95, `${frames.length} video frames`);
  const aacFrames = audio.filter((m) => m.data[1] === 1);
  assert.ok(aacFrames.length >= 130 && aacFrames.length <= 150, `${aacFrames.length} audio frames`);
  assertSteady(frames, "video");
  assertSteady(aacFrames, "audio");
  assert.ok(frames[0]!.timestampMs < 100, `first video at ${frames[0]!.timestampMs} ms`);
  const lastVideo = frames.at(-1)!.timestampMs;
  assert.ok(lastVideo > 2800 && lastVideo < 3100, `last video at ${lastVideo} ms`);

  const probe = await ffprobe(Buffer.concat(run.flv));
  const v = probe.streams.find((s) => s.codec_type === "video");
  const a = probe.streams.find((s) => s.codec_type === "audio");
  assert.equal(v?.codec_name, "h264");
  assert.equal(v?.width, 320);
  assert.equal(a?.codec_name, "aac");

  assert.ok(!logs.join("\n").includes(KEY), "no log line carries the stream key");
});

test("timestamps past 2^24 ms (extended timestamps) stay continuous with real ffmpeg", { timeout: 30000 }, async () => {
  runs = [];
  // Start 1.7 s before the 24-bit limit (16777.215 s) so the push crosses it.
  const pub = pushWithFfmpeg(`rtmp://127.0.0.1:${server.port}/live/${KEY}`, 3, ["-output_ts_offset", "16775.5"]);
  const { code } = await pub.exited;
  assert.equal(code, 0, pub.stderrTail());
  const run = runs[0]!;
  const frames = byKind(run, "video").filter((m) => m.data[1] === 1);
  const aacFrames = byKind(run, "audio").filter((m) => m.data[1] === 1);
  assertSteady(frames, "video");
  assertSteady(aacFrames, "audio");
  assert.ok(frames[0]!.timestampMs < 0xffffff && frames.at(-1)!.timestampMs > 0xffffff, "the push crossed 2^24 ms");
});

test("a refused ffmpeg publisher exits with an error promptly", { timeout: 30000 }, async () => {
  refuseNext = true;
  try {
    const t0 = Date.now();
    const pub = pushWithFfmpeg(`rtmp://127.0.0.1:${server.port}/live/not-a-key`, 10);
    const { code } = await pub.exited;
    assert.notEqual(code, 0);
    assert.ok(Date.now() - t0 < 3000, `ran ${Date.now() - t0} ms`);
  } finally {
    refuseNext = false;
  }
});
