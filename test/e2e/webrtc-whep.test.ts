// WHEP playback against a real Wharf process with werift viewers: direct forwarding of a
// WHIP H.264 publisher, the segment packetizer for RTMP sources, continuity of sequence
// numbers and timestamps across a publisher restart, and the per-stream viewer limit.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { pushTestPattern } from "../support/publisher.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { playWhep, publishWhip, type WhepPlayer } from "../support/whip-client.ts";

let w: WharfProcess;
const MAX_VIEWERS = 3;

async function createStream(name: string) {
  const res = await w.api("POST", "/v1/streams", { name, pipeline: "passthrough" });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; streamKey: string; whipUrl: string; whepUrl: string; hlsUrl: string; rtmpUrl: string };
}

describe("WHEP playback", { timeout: 90000 }, () => {
  before(async () => {
    w = await startWharf({ env: { WHARF_WEBRTC_MAX_VIEWERS: String(MAX_VIEWERS) } });
  });
  after(async () => {
    await w?.stop();
  });

  test("a WHIP H.264 publisher is forwarded directly; viewer limit; errors", async () => {
    const s = await createStream("whep-direct");
    const pub = await publishWhip(s.whipUrl, s.streamKey, { codec: "H264", size: "320x240", bitrate: "500k" });
    const viewers: WhepPlayer[] = [];
    try {
      assert.equal(pub.status, 201);
      await waitFor("live", async () => (await w.api("GET", `/v1/streams/${s.id}`)).body.state === "live", 20_000); // the WHIP peer connects first: seconds on a loaded machine
      for (let i = 0; i < MAX_VIEWERS; i++) viewers.push(await playWhep(s.whepUrl));
      for (const v of viewers) {
        assert.equal(v.status, 201, JSON.stringify(v.error));
        assert.match(v.location ?? "", /^\/v1\/whep\/[0-9a-f-]{36}$/);
      }
      const refused = await playWhep(s.whepUrl);
      assert.equal(refused.status, 429);
      assert.equal((refused.error as { error: string }).error, "Too Many Requests");
      await waitFor("video at every viewer", () => viewers.every((v) => v.video.keyframes > 0 && v.video.packets > 100), 10000);
      const ttff = viewers.map((v) => v.firstKeyframeMs!);
      assert.ok(Math.max(...ttff) < 3000, `first keyframe after ${ttff} ms`);
      await sleep(1000);
      for (const v of viewers) {
        assert.equal(v.video.lost, 0, "no sequence gaps");
        assert.equal(v.video.tsBackwards, 0);
        assert.ok(v.audio.packets > 20, `audio packets ${v.audio.packets}`);
      }
      console.log(`# WHEP direct: first keyframe ${ttff.join(", ")} ms after POST`);
      // A viewer leaves: a new one fits again.
      assert.equal(await viewers.shift()!.stop(), 200);
      const again = await playWhep(s.whepUrl);
      viewers.push(again);
      assert.equal(again.status, 201);

      // Errors: unknown stream, wrong content type, malformed SDP, video-less offer, PATCH.
      const post = (url: string, body: string, ct = "application/sdp") => fetch(url, { method: "POST", headers: { "content-type": ct }, body });
      assert.equal((await post(`${w.http}/v1/streams/str_nope/whep`, "v=0")).status, 404);
      const t = await post(s.whepUrl, "{}", "application/json");
      assert.equal(t.status, 415);
      assert.equal((await t.json()).error, "Unsupported Media Type");
      for (const bad of ["", "garbage", "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"]) {
        const r = await post(s.whepUrl, bad);
        assert.equal(r.status, 400, bad);
      }
      assert.equal((await fetch(`${w.http}/v1/whep/00000000-0000-0000-0000-000000000000`, { method: "DELETE" })).status, 404);
      assert.equal((await fetch(new URL(again.location!, w.http), { method: "PATCH", headers: { "content-type": "application/trickle-ice-sdpfrag" }, body: "a=x" })).status, 405);
    } finally {
      for (const v of viewers) await v.stop();
      await pub.stop();
    }
  });

  test("RTMP source through the packetizer; the viewer keeps one continuous track across a publisher restart", async () => {
    const s = await createStream("whep-rtmp");
    let pub = pushTestPattern(s.rtmpUrl, { size: "320x240" });
    let v: WhepPlayer | undefined;
    try {
      await waitFor("HLS", async () => (await fetch(s.hlsUrl)).ok, 15000, 100);
      v = await playWhep(s.whepUrl);
      assert.equal(v.status, 201, JSON.stringify(v.error));
      const player = v;
      await waitFor("video", () => player.video.keyframes > 0 && player.video.packets > 50, 10000);
      console.log(`# WHEP packetizer: first keyframe ${player.firstKeyframeMs} ms after POST (ICE connected at ${player.connectedMs} ms)`);
      assert.ok(player.firstKeyframeMs! < 3000, `first keyframe after ${player.firstKeyframeMs} ms`);
      await sleep(1500);
      const before = { ...player.video };
      assert.ok(player.audio.packets > 20, "Opus audio from AAC");

      // The publisher goes away and comes back: same viewer session, same SSRC, no gaps.
      await pub.stop();
      await waitFor("idle", async () => (await w.api("GET", `/v1/streams/${s.id}`)).body.state === "idle", 5000);
      pub = pushTestPattern(s.rtmpUrl, { size: "320x240" });
      await waitFor("video again", () => player.video.packets > before.packets + 100 && player.video.keyframes > before.keyframes, 15000);
      assert.equal(player.video.ssrcs.size, 1, "one SSRC for the whole session");
      // The rewriter itself never skips numbers; allow a few real UDP drops when the 2-core CI box is busy.
      assert.ok(player.video.lost <= player.video.packets * 0.02, `sequence gaps ${player.video.lost} of ${player.video.packets}`);
      assert.equal(player.video.tsBackwards, 0, "timestamps never go backwards");
      assert.equal(player.pc.connectionState, "connected");
    } finally {
      await v?.stop();
      await pub.stop();
    }
  });
});
