// Multistream: a live stream pushed to a real RTMP server on loopback (ffmpeg -listen 1), which dies and comes back.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ffprobe, spawnFfmpeg } from "../../core/ffmpeg.ts";
import { freePort } from "../support/ports.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";
import { waitForEvent } from "../support/events.ts";

let w: WharfProcess;
let dir: string;

/** An RTMP server that accepts one publisher and records what it receives. */
function rtmpTarget(url: string, file: string) {
  return spawnFfmpeg(["-hide_banner", "-loglevel", "error", "-listen", "1", "-f", "flv", "-i", url, "-c", "copy", "-y", file], { label: "rtmp target" });
}

async function target0(id: string) {
  const r = await w.api("GET", `/v1/streams/${id}`);
  return r.body.multistream[0] as { url: string; rendition: string; state: string; lastError: string | null; attempts?: number };
}

describe("multistream", { timeout: 180000 }, () => {
  before(async () => {
    w = await startWharf();
    dir = mkdtempSync(join(tmpdir(), "wharf-multistream-"));
  });
  after(async () => {
    await w?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("targets are validated on create and PATCH", async () => {
    const bad = await w.api("POST", "/v1/streams", { name: "bad", multistream: [{ url: "http://example.com/live/x" }] });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /multistream\[0\]\.url must start with rtmp/);
    const s = await w.api("POST", "/v1/streams", { name: "none" });
    assert.deepEqual(s.body.multistream, []);
    const tooMany = await w.api("PATCH", `/v1/streams/${s.body.id}`, { multistream: Array.from({ length: 11 }, () => ({ url: "rtmp://127.0.0.1/live/x" })) });
    assert.equal(tooMany.status, 400);
    const ok = await w.api("PATCH", `/v1/streams/${s.body.id}`, { multistream: [{ url: "rtmps://example.com/live/key", rendition: "source" }] });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.multistream, [{ url: "rtmps://example.com/live/key", rendition: "source", state: "disconnected", lastError: null }]);
  });

  test("the target receives H.264 + AAC; killed, it is an error, then the push reconnects when it is back", async () => {
    const port = await freePort();
    const url = `rtmp://127.0.0.1:${port}/live/target-key`;
    const first = join(dir, "first.flv");
    const second = join(dir, "second.flv");
    let server = rtmpTarget(url, first);

    const created = await w.api("POST", "/v1/streams", { name: "multi", pipeline: "passthrough", multistream: [{ url, rendition: "source" }] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const s = created.body as { id: string; rtmpUrl: string };
    const connected = waitForEvent(w, ["multistream.connected"], (e) => e.data.streamId === s.id, 20000);
    const startedAt = Date.now();
    const pub = pushTestPattern(s.rtmpUrl, { seconds: 45 });
    try {
      const event = await connected;
      console.log(`# connected ${Date.now() - startedAt} ms after the publisher started`);
      assert.equal(event.data.url, `rtmp://127.0.0.1:${port}/live/***`, "the target's stream key is not told");
      assert.equal((await target0(s.id)).state, "connected");
      await waitFor("6 s received by the target", () => (statSync(first, { throwIfNoEntry: false })?.size ?? 0) > 300_000, 20000, 200);
      await new Promise((r) => setTimeout(r, 4000));

      // The target dies.
      const killedAt = Date.now();
      const failed = waitForEvent(w, ["multistream.error"], (e) => e.data.streamId === s.id && Date.parse(e.at) >= killedAt - 50, 20000);
      server.child.kill("SIGKILL");
      await server.exited;
      const error = await failed;
      console.log(`# error event ${Date.now() - killedAt} ms after the target was killed: ${error.data.error}`);
      assert.ok(error.data.error.length > 0);
      assert.doesNotMatch(error.data.error, /target-key/, "the error does not tell the stream key");
      const during = await target0(s.id);
      assert.equal(during.state, "error");
      assert.ok(during.lastError, "lastError says why");

      const received = await ffprobe(first);
      assert.deepEqual(received.streams.map((x) => x.codec_name).sort(), ["aac", "h264"]);
      // A killed server writes no FLV trailer (duration 0 in its header): count the frames instead.
      const frames = await ffprobe(first, ["-count_frames", "-select_streams", "v"]);
      const got = Number((frames.streams[0] as { nb_read_frames?: string }).nb_read_frames);
      console.log(`# the first target received ${got} video frames before it was killed`);
      assert.ok(got >= 5 * 30, `target got ${got} frames`);

      // It comes back: the push reconnects (after its backoff) and delivers again.
      const backAt = Date.now();
      const reconnected = waitForEvent(w, ["multistream.connected"], (e) => e.data.streamId === s.id && Date.parse(e.at) >= backAt, 30000);
      server = rtmpTarget(url, second);
      await reconnected;
      console.log(`# reconnected ${Date.now() - backAt} ms after the target came back`);
      assert.equal((await target0(s.id)).state, "connected");
      await waitFor("the second target receives media", () => (statSync(second, { throwIfNoEntry: false })?.size ?? 0) > 200_000, 20000, 200);
    } finally {
      const disconnected = waitForEvent(w, ["multistream.disconnected"], (e) => e.data.streamId === s.id, 20000);
      await pub.stop();
      await disconnected;
      await server.exited; // the listening ffmpeg ends when its publisher leaves
    }
    const again = await ffprobe(second);
    assert.deepEqual(again.streams.map((x) => x.codec_name).sort(), ["aac", "h264"]);
    const v = again.streams.find((x) => x.codec_type === "video")!;
    assert.equal(v.width, 640);
    assert.equal((await target0(s.id)).state, "disconnected");
  });
});
