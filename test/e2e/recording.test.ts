// Recording: a stream with record: true becomes a VOD asset (HLS VOD playlist and MP4) when its session ends.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ffprobe } from "../../core/ffmpeg.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";
import { waitForEvent } from "../support/events.ts";

const PUSH_SECONDS = 20;
const SEGMENT_SECONDS = 2;

let w: WharfProcess;

describe("recording", { timeout: 180000 }, () => {
  before(async () => {
    w = await startWharf();
  });
  after(async () => {
    await w?.stop();
  });

  test("a 20 s push with record: true becomes a VOD playlist and an MP4 that play for 20 s", async () => {
    const created = await w.api("POST", "/v1/streams", { name: "recorded", pipeline: "passthrough", record: true });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.record, true);
    const s = created.body as { id: string; rtmpUrl: string };

    const pub = pushTestPattern(s.rtmpUrl, { seconds: PUSH_SECONDS });
    const recording = await waitFor("a recording while live", async () => {
      const r = await w.api("GET", `/v1/recordings?stream=${s.id}`);
      return r.body.recordings?.[0]?.state === "recording" ? r.body.recordings[0] : undefined;
    }, 15000, 200);
    // Segments are on disk while the session runs.
    await waitFor("recorded segments on disk", () => existsSync(join(w.dataDir, "recordings", recording.id, "0.ts")), 15000, 200);
    const live = await fetch(`${w.http}/v1/recordings/${recording.id}/index.m3u8`, { headers: { authorization: `Bearer ${w.adminKey}` } });
    assert.match(await live.text(), /#EXT-X-PLAYLIST-TYPE:EVENT/);

    const ready = waitForEvent(w, ["recording.ready"], (e) => e.data.recordingId === recording.id, 60000);
    await pub.exited;
    const event = await ready;
    assert.equal(event.data.streamId, s.id);

    const r = await w.api("GET", `/v1/recordings/${recording.id}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.state, "ready");
    assert.ok(Math.abs(r.body.durationSeconds - PUSH_SECONDS) <= SEGMENT_SECONDS, `recorded ${r.body.durationSeconds} s`);
    assert.ok(r.body.size > 100_000, `MP4 of ${r.body.size} bytes`);

    const auth = ["-headers", `Authorization: Bearer ${w.adminKey}\r\n`];
    const playlist = await fetch(r.body.hlsUrl, { headers: { authorization: `Bearer ${w.adminKey}` } }).then((x) => x.text());
    assert.match(playlist, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
    assert.match(playlist, /#EXT-X-ENDLIST\n$/);
    const vod = await ffprobe(r.body.hlsUrl, auth);
    const vodSeconds = Number(vod.format.duration);
    assert.ok(Math.abs(vodSeconds - PUSH_SECONDS) <= SEGMENT_SECONDS, `VOD playlist plays ${vodSeconds} s`);
    assert.deepEqual(vod.streams.map((x) => x.codec_name).sort(), ["aac", "h264"]);

    const mp4 = await ffprobe(r.body.mp4Url, auth);
    const mp4Seconds = Number(mp4.format.duration);
    assert.match(mp4.format.format_name, /mp4/);
    assert.ok(Math.abs(mp4Seconds - PUSH_SECONDS) <= SEGMENT_SECONDS, `MP4 plays ${mp4Seconds} s`);
    assert.deepEqual(mp4.streams.map((x) => x.codec_name).sort(), ["aac", "h264"]);
    // Decodes to the end: every frame of the 20 s is there.
    const frames = await ffprobe(r.body.mp4Url, [...auth, "-count_frames", "-select_streams", "v"]);
    assert.ok(Number((frames.streams[0] as { nb_read_frames?: string }).nb_read_frames) >= (PUSH_SECONDS - SEGMENT_SECONDS) * 30);

    // Range requests (players seek in the MP4).
    const range = await fetch(r.body.mp4Url, { headers: { authorization: `Bearer ${w.adminKey}`, range: "bytes=0-99" } });
    assert.equal(range.status, 206);
    assert.equal((await range.arrayBuffer()).byteLength, 100);
    assert.match(range.headers.get("content-range") ?? "", new RegExp(`^bytes 0-99/${r.body.size}$`));

    // Another key sees nothing of it; the owner (admin here) deletes it with its files.
    const other = await w.api("POST", "/v1/keys", { name: "other", scopes: ["streams"] });
    assert.equal(other.status, 201, JSON.stringify(other.body));
    assert.equal((await w.api("GET", `/v1/recordings/${recording.id}`, undefined, other.body.secret)).status, 404);
    assert.deepEqual((await w.api("GET", "/v1/recordings", undefined, other.body.secret)).body.recordings, []);
    assert.equal((await w.api("DELETE", `/v1/recordings/${recording.id}`)).status, 204);
    assert.equal((await w.api("GET", `/v1/recordings/${recording.id}`)).status, 404);
    assert.equal(existsSync(join(w.dataDir, "recordings", recording.id)), false);
  });

  test("PATCH turns recording on for the next session", async () => {
    const created = await w.api("POST", "/v1/streams", { name: "later", pipeline: "passthrough" });
    assert.equal(created.body.record, false);
    const patched = await w.api("PATCH", `/v1/streams/${created.body.id}`, { record: true });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.record, true);
    assert.equal((await w.api("PATCH", `/v1/streams/${created.body.id}`, { record: "yes" })).status, 400);
  });
});
