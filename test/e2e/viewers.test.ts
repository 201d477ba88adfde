// Viewer counts of a live stream: `viewers: {hls, webrtc}` in GET /v1/streams/{id} and the
// wharf_stream_viewers gauge. HLS viewers are distinct clients (address and user agent) that read a
// media playlist within hlsViewerWindow (4 s here, 30 s by default); WebRTC viewers are open WHEP
// sessions. Both fall back when the viewers leave.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { pushTestPattern } from "../support/publisher.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";
import { playWhep } from "../support/whip-client.ts";

let w: WharfProcess;
const WINDOW_S = 4;

async function viewers(id: string): Promise<{ hls: number; webrtc: number }> {
  const r = await w.api("GET", `/v1/streams/${id}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.viewers;
}

async function gauge(): Promise<{ hls: number; webrtc: number }> {
  const text = await (await fetch(`${w.http}/metrics`)).text();
  const read = (p: string) => Number(new RegExp(`^wharf_stream_viewers\\{protocol="${p}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
  return { hls: read("hls"), webrtc: read("webrtc") };
}

describe("viewer counts", { timeout: 90_000 }, () => {
  before(async () => {
    w = await startWharf({ env: { WHARF_HLS_VIEWER_WINDOW: String(WINDOW_S), WHARF_SEGMENT_DURATION: "1" } });
  });
  after(async () => {
    await w?.stop();
  });

  test("three HLS clients and one WHEP session are counted, in the stream and the metric; they fall when the viewers leave", async () => {
    const s = (await w.api("POST", "/v1/streams", { name: "watched", pipeline: "passthrough" })).body as { id: string; rtmpUrl: string; hlsUrl: string; whepUrl: string };
    assert.deepEqual(await viewers(s.id), { hls: 0, webrtc: 0 });
    const pub = pushTestPattern(s.rtmpUrl, { size: "320x240" });
    try {
      const media = new URL("source/index.m3u8", s.hlsUrl).toString();
      await waitFor("first segment", async () => (await fetch(media)).ok || undefined, 20_000, 200);
      // The probe above is one client (undici's user agent); three players with their own.
      const players = ["player-a", "player-b", "player-c"];
      const poll = async () => {
        for (const ua of players) {
          const r = await fetch(media, { headers: { "user-agent": ua } });
          assert.equal(r.status, 200);
          await r.text();
        }
      };
      await poll();
      // The same clients again are not new viewers.
      await poll();
      const whep = await playWhep(s.whepUrl);
      try {
        assert.equal(whep.status, 201, JSON.stringify(whep.error));
        assert.deepEqual(await viewers(s.id), { hls: 4, webrtc: 1 });
        assert.deepEqual(await gauge(), { hls: 4, webrtc: 1 });
        // The list shows the counts too.
        const listed = (await w.api("GET", "/v1/streams")).body.streams.find((x: { id: string }) => x.id === s.id);
        assert.deepEqual(listed.viewers, { hls: 4, webrtc: 1 });

        // Two players keep polling, the probe and player-c stop: after the window only the two remain.
        const t0 = Date.now();
        while (Date.now() - t0 < (WINDOW_S + 1.5) * 1000) {
          for (const ua of players.slice(0, 2)) await (await fetch(media, { headers: { "user-agent": ua } })).text();
          await new Promise((r) => setTimeout(r, 700));
        }
        assert.deepEqual(await viewers(s.id), { hls: 2, webrtc: 1 });
      } finally {
        assert.equal(await whep.stop(), 200);
      }
      // Everyone gone: both counts fall to zero.
      const gone = await waitFor("viewers gone", async () => {
        const v = await viewers(s.id);
        return v.hls === 0 && v.webrtc === 0 ? v : undefined;
      }, (WINDOW_S + 5) * 1000, 250);
      assert.deepEqual(gone, { hls: 0, webrtc: 0 });
      assert.deepEqual(await gauge(), { hls: 0, webrtc: 0 });
    } finally {
      await pub.stop();
    }
  });
});
