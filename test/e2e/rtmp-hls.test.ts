// RTMP ingest -> HLS playback against a real Wharf process and real ffmpeg publishers.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ffprobe } from "../../core/ffmpeg.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";

let w: WharfProcess;

async function createStream(name: string) {
  const res = await w.api("POST", "/v1/streams", { name, pipeline: "passthrough" });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; streamKey: string; rtmpUrl: string; hlsUrl: string };
}

async function getText(url: string): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

function segmentUris(playlist: string): string[] {
  return playlist.split("\n").filter((l) => l && !l.startsWith("#"));
}

describe("RTMP to HLS", { timeout: 180000 }, () => {
  before(async () => {
    w = await startWharf();
  });
  after(async () => {
    await w?.stop();
  });

  test("a 10 s push becomes a valid sliding HLS playlist of keyframe-aligned H.264+AAC segments", async () => {
    const s = await createStream("ten-seconds");
    assert.match(s.rtmpUrl, new RegExp(`^${w.rtmp}/`));
    const started = Date.now();
    const pub = pushTestPattern(s.rtmpUrl, { seconds: 10, size: "640x360" });
    const master = await waitFor("multivariant playlist", async () => {
      const r = await getText(s.hlsUrl);
      return r.status === 200 ? r : undefined;
    }, 15000, 100);
    const firstPlaylistMs = Date.now() - started;
    // The publisher needs a few hundred ms to connect; the first segment (1 s) must then be listed soon after.
    assert.ok(firstPlaylistMs < 4500, `first playlist after ${firstPlaylistMs} ms`);
    assert.match(master.headers.get("cache-control") ?? "", /no-cache/);
    assert.match(master.headers.get("content-type") ?? "", /mpegurl/);
    assert.match(master.text, /#EXT-X-STREAM-INF:BANDWIDTH=\d+,RESOLUTION=640x360,CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);

    const mediaUrl = new URL(segmentUris(master.text)[0]!, s.hlsUrl).toString();
    // Wait until the publisher is done and the last segment is flushed.
    await pub.exited;
    const media = await waitFor("complete media playlist", async () => {
      const r = await getText(mediaUrl);
      return r.status === 200 && /#EXT-X-ENDLIST/.test(r.text) ? r : undefined;
    }, 8000);
    assert.match(media.headers.get("cache-control") ?? "", /no-cache/);
    assert.match(media.text, /#EXT-X-TARGETDURATION:2\n/);
    assert.match(media.text, /#EXT-X-PROGRAM-DATE-TIME:\d{4}-\d\d-\d\dT/);
    const durations = [...media.text.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
    assert.ok(durations.length >= 4, `segments: ${durations.length}`);
    // The first segment ends at the first keyframe after half the target (1 s GOP: 1 s), so the
    // first playlist comes sooner; the others are 2 s.
    assert.ok(Math.abs(durations[0]! - 1) <= 0.1, `first segment lasts ${durations[0]} s`);
    for (const d of durations.slice(1, -1)) assert.ok(Math.abs(d - 2) <= 0.2, `duration ${d} not within 10% of 2 s`);

    for (const uri of segmentUris(media.text)) {
      const res = await fetch(new URL(uri, mediaUrl));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "video/mp2t");
      const bytes = Buffer.from(await res.arrayBuffer());
      assert.equal(bytes[0], 0x47, "MPEG-TS sync byte");
      const probe = await ffprobe(bytes);
      const v = probe.streams.find((x) => x.codec_type === "video");
      const a = probe.streams.find((x) => x.codec_type === "audio");
      assert.equal(v?.codec_name, "h264");
      assert.equal(a?.codec_name, "aac");
      assert.equal(v?.width, 640);
      assert.equal(v?.height, 360);
      const frames = await ffprobe(bytes, ["-show_frames", "-select_streams", "v", "-read_intervals", "%+#1"]);
      assert.equal(frames.frames?.[0]?.key_frame, 1, `${uri} starts with a keyframe`);
    }

    const info = await w.api("GET", `/v1/streams/${s.id}`);
    assert.equal(info.body.state, "idle");
    assert.equal(info.body.lastEnded.reason, "publisher-left");
  });

  test("LL-HLS: a player opened as the broadcaster goes live gets the playlist (no 404), with parts, a preload hint and blocking reload; regular tags unchanged", async () => {
    const s = await createStream("low-latency");
    const mediaUrl = s.hlsUrl.replace("index.m3u8", "source/index.m3u8");
    assert.equal((await getText(mediaUrl)).status, 404, "not live: 404 at once");
    const pub = pushTestPattern(s.rtmpUrl, { seconds: 12, size: "320x240" });
    try {
      await waitFor("stream live", async () => (await w.api("GET", `/v1/streams/${s.id}`)).body.state === "live", 10000, 50);
      // Asked before any segment exists: held until the first one instead of a 404.
      const master = await getText(s.hlsUrl);
      assert.equal(master.status, 200, master.text);
      const first = await getText(mediaUrl);
      assert.equal(first.status, 200);
      assert.match(first.text, /#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1\.002\n/);
      assert.match(first.text, /#EXT-X-PART-INF:PART-TARGET=0\.334\n/);
      assert.match(first.text, /#EXTINF:[\d.]+,\n0\.ts\n/, "regular players still find whole segments");
      const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.ts"/.exec(first.text);
      assert.ok(hint, first.text);

      // Blocking reload for the hinted part: answered once it exists, listing it.
      const [msn, part] = [Number(hint[1]), Number(hint[2])];
      const t0 = Date.now();
      const blocked = await getText(`${mediaUrl}?_HLS_msn=${msn}&_HLS_part=${part}`);
      assert.equal(blocked.status, 200);
      assert.ok(blocked.text.includes(`URI="${msn}.${part}.ts"`), blocked.text);
      assert.ok(Date.now() - t0 < 2000, `held ${Date.now() - t0} ms for a part of 0.334 s`);
      const partRes = await fetch(new URL(`${msn}.${part}.ts`, mediaUrl));
      assert.equal(partRes.status, 200);
      assert.equal(partRes.headers.get("content-type"), "video/mp2t");
      assert.equal(Buffer.from(await partRes.arrayBuffer())[0], 0x47);

      // The parts of segment 0 are its bytes, in order; the first starts with the PAT and a keyframe.
      const parts = [...first.text.matchAll(/#EXT-X-PART:DURATION=([\d.]+),URI="0\.(\d+)\.ts"(,INDEPENDENT=YES)?/g)];
      assert.ok(parts.length >= 3, `${parts.length} parts listed for segment 0 (1 s)`);
      for (const p of parts) assert.ok(Number(p[1]) <= 0.334, `part of ${p[1]} s`);
      assert.equal(parts[0]![3], ",INDEPENDENT=YES");
      const pieces = await Promise.all(parts.map(async (p) => Buffer.from(await (await fetch(new URL(`0.${p[2]}.ts`, mediaUrl))).arrayBuffer())));
      const whole = Buffer.from(await (await fetch(new URL("0.ts", mediaUrl))).arrayBuffer());
      assert.ok(Buffer.concat(pieces).equals(whole), "the parts add up to the segment");
      const frames = await ffprobe(pieces[0]!, ["-show_frames", "-select_streams", "v", "-read_intervals", "%+#1"]);
      assert.equal(frames.frames?.[0]?.key_frame, 1);

      for (const q of ["_HLS_msn=abc", "_HLS_part=1", "_HLS_msn=1&_HLS_part=-2", `_HLS_msn=${msn + 10}`]) {
        const bad = await fetch(`${mediaUrl}?${q}`);
        assert.equal(bad.status, 400, q);
        assert.match((await bad.json()).message, /_HLS_/);
      }
    } finally {
      await pub.stop();
    }
  });

  test("a sliding window drops old segments", async () => {
    const s = await createStream("window");
    const pub = pushTestPattern(s.rtmpUrl, { size: "320x240" });
    try {
      const mediaUrl = s.hlsUrl.replace("index.m3u8", "source/index.m3u8");
      // Default window is 6 segments of 2 s: after ~16 s the first segments must be gone.
      const playlist = await waitFor("media sequence to advance", async () => {
        const r = await getText(mediaUrl);
        const m = /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(r.text);
        return m && Number(m[1]) >= 1 ? r.text : undefined;
      }, 30000, 500);
      assert.ok(segmentUris(playlist).length <= 6);
      assert.ok(!segmentUris(playlist).includes("0.ts"));
    } finally {
      await pub.stop();
    }
  });

  test("an unknown stream key is cut off, creates nothing, and the server keeps serving", async () => {
    const before = (await w.api("GET", "/v1/streams")).body.streams.length;
    const t0 = Date.now();
    const pub = pushTestPattern(`${w.rtmp}/not-a-real-key`, { seconds: 10, size: "320x240" });
    const { code } = await pub.exited;
    const elapsed = Date.now() - t0;
    assert.notEqual(code, 0, "publisher must be refused");
    assert.ok(elapsed < 3000, `publisher ran ${elapsed} ms before being cut off`);
    const list = (await w.api("GET", "/v1/streams")).body.streams;
    assert.equal(list.length, before);
    assert.ok(list.every((s: { state: string }) => s.state === "idle" || s.state === "live"));
    const health = await fetch(`${w.http}/healthz`);
    assert.equal(health.status, 200);
    const ready = await (await fetch(`${w.http}/readyz`)).json();
    assert.equal(ready.status, "ready");
  });

  test("publisher loss turns the stream idle within 2 s, a second publisher is refused, and republishing works", async () => {
    const s = await createStream("comeback");
    const pub = pushTestPattern(s.rtmpUrl, { size: "320x240" });
    await waitFor("stream live", async () => (await w.api("GET", `/v1/streams/${s.id}`)).body.state === "live", 10000);
    await waitFor("first segment", async () => (await getText(s.hlsUrl)).status === 200, 10000);

    const second = pushTestPattern(s.rtmpUrl, { seconds: 10, size: "320x240" });
    const { code } = await second.exited;
    assert.notEqual(code, 0, "second publisher on a live key is refused");
    assert.equal((await w.api("GET", `/v1/streams/${s.id}`)).body.state, "live", "first publisher unaffected");

    pub.child.kill("SIGKILL"); // abrupt loss, no RTMP goodbye
    const lostAt = Date.now();
    await waitFor("stream idle", async () => (await w.api("GET", `/v1/streams/${s.id}`)).body.state === "idle", 5000, 50);
    const idleAfter = Date.now() - lostAt;
    assert.ok(idleAfter <= 2000, `idle after ${idleAfter} ms`);

    const again = pushTestPattern(s.rtmpUrl, { size: "320x240" });
    try {
      await waitFor("live again", async () => (await w.api("GET", `/v1/streams/${s.id}`)).body.state === "live", 10000);
      const mediaUrl = s.hlsUrl.replace("index.m3u8", "source/index.m3u8");
      const text = await waitFor("new segments after a discontinuity", async () => {
        const t = (await getText(mediaUrl)).text;
        return /#EXT-X-DISCONTINUITY\n/.test(t) && !/#EXT-X-ENDLIST/.test(t) ? t : undefined;
      }, 10000);
      assert.ok(segmentUris(text).length >= 2);
    } finally {
      await again.stop();
    }
  });

  test("deleting a live stream disconnects its publisher", async () => {
    const s = await createStream("to-delete");
    const pub = pushTestPattern(s.rtmpUrl, { size: "320x240" });
    await waitFor("stream live", async () => (await w.api("GET", `/v1/streams/${s.id}`)).body.state === "live", 10000);
    const del = await w.api("DELETE", `/v1/streams/${s.id}`);
    assert.equal(del.status, 204);
    const result = await Promise.race([pub.exited, sleep(3000).then(() => "still running" as const)]);
    assert.notEqual(result, "still running", "publisher was disconnected");
    assert.equal((await w.api("GET", `/v1/streams/${s.id}`)).status, 404);
  });
});

describe("streams API input validation", { timeout: 60000 }, () => {
  before(async () => {
    w = await startWharf();
  });
  after(async () => {
    await w?.stop();
  });

  test("bad input gets a 4xx JSON error naming the problem", async () => {
    const noAuth = await w.api("GET", "/v1/streams", undefined, "");
    assert.equal(noAuth.status, 401);
    assert.match(noAuth.body.message, /Authorization/);
    const badAuth = await w.api("GET", "/v1/streams", undefined, "nope");
    assert.equal(badAuth.status, 401);

    const unknown = await w.api("GET", "/v1/streams/does-not-exist");
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.message, /does-not-exist/);

    const malformed = await w.api("POST", "/v1/streams", '{"name": "x",');
    assert.equal(malformed.status, 400);
    assert.match(malformed.body.message, /JSON/i);

    const wrongType = await w.api("POST", "/v1/streams", { name: 42, pipeline: "passthrough" });
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.body.message, /name/);

    const badPipeline = await w.api("POST", "/v1/streams", { name: "x", pipeline: "teleport" });
    assert.equal(badPipeline.status, 400);
    assert.match(badPipeline.body.message, /pipeline/);

    const missing = await w.api("POST", "/v1/streams", {});
    assert.equal(missing.status, 400);
    assert.match(missing.body.message, /name/);

    const extra = await w.api("POST", "/v1/streams", { name: "x", color: "red" });
    assert.equal(extra.status, 400);
    assert.match(extra.body.message, /color|additional/);

    const badId = await w.api("DELETE", "/v1/streams/..%2F..%2Fetc");
    assert.ok(badId.status === 400 || badId.status === 404);

    // Still healthy after all of that.
    assert.equal((await fetch(`${w.http}/healthz`)).status, 200);

    // Metrics and the OpenAPI document reflect what happened.
    const text = await (await fetch(`${w.http}/metrics`)).text();
    assert.match(text, /wharf_http_request_duration_seconds_count\{route="\/v1\/streams",method="POST",status="4xx"\} [1-9]/);
    assert.match(text, /wharf_ffmpeg_processes \d+/);
    const openapi = await (await fetch(`${w.http}/docs/openapi.json`)).json();
    assert.ok(openapi.paths["/v1/streams"]?.post, "OpenAPI documents POST /v1/streams");
  });

  test("graceful stop on SIGTERM within 5 s; an RTMP passthrough stream runs no process of its own", async () => {
    const s = (await w.api("POST", "/v1/streams", { name: "stop" })).body;
    const pub = pushTestPattern(s.rtmpUrl, { size: "320x240" });
    try {
      await waitFor("stream live", async () => (await w.api("GET", `/v1/streams/${s.id}`)).body.state === "live", 10000);
      await waitFor("first segment", async () => (await getText(s.hlsUrl)).status === 200, 10000);
      const { execSync } = await import("node:child_process");
      const children = execSync(`pgrep -P ${w.proc.pid} || true`).toString().trim().split("\n").filter(Boolean);
      // RTMP is remuxed in process (no ffmpeg segmenter) and the source facts come from the
      // sequence headers (no ffprobe).
      assert.deepEqual(children, [], "no child process while a passthrough stream is live");
      const t0 = Date.now();
      const code = await w.stop("SIGTERM");
      assert.ok(Date.now() - t0 < 5000, "stopped within 5 s");
      assert.equal(code, 0);
      for (const pid of children) {
        let alive = true;
        try {
          process.kill(Number(pid), 0);
        } catch {
          alive = false;
        }
        assert.equal(alive, false, `child ${pid} is gone`);
      }
    } finally {
      await pub.stop();
    }
  });
});
