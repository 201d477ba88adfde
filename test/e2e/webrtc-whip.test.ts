// WHIP ingest against a real Wharf process: a werift publisher (ffmpeg test pattern -> RTP)
// becomes HLS; DELETE ends it; bad requests get their status codes and never disturb a
// concurrent live session.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ffprobe } from "../../core/ffmpeg.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { gathered, loopbackPeer, publishWhip, type WhipPublisher } from "../support/whip-client.ts";

let w: WharfProcess;

interface StreamInfo {
  id: string;
  streamKey: string;
  whipUrl: string;
  whepUrl: string;
  hlsUrl: string;
}

async function createStream(name: string): Promise<StreamInfo> {
  const res = await w.api("POST", "/v1/streams", { name, pipeline: "passthrough" });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as StreamInfo;
}

const state = async (id: string) => (await w.api("GET", `/v1/streams/${id}`)).body;

async function whipPost(url: string, body: string, headers: Record<string, string>) {
  const res = await fetch(url, { method: "POST", headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

/** A real (werift) offer to mutate. */
async function sampleOffer(): Promise<string> {
  const pc = loopbackPeer({ video: "H264", audio: true });
  pc.addTransceiver("video", { direction: "sendonly" });
  pc.addTransceiver("audio", { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  const sdp = await gathered(pc);
  await pc.close();
  return sdp;
}

function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

describe("WHIP ingest", { timeout: 90000 }, () => {
  before(async () => {
    w = await startWharf();
  });
  after(async () => {
    await w?.stop();
  });

  test("H.264 publisher -> keyframe-aligned HLS (ffprobe), DELETE ends it within 1 s", async () => {
    const s = await createStream("whip-h264");
    const t0 = Date.now();
    const pub = await publishWhip(s.whipUrl, s.streamKey, { codec: "H264" });
    try {
      assert.equal(pub.status, 201, JSON.stringify(pub.error));
      assert.match(pub.location ?? "", /^\/v1\/whip\/[0-9a-f-]{36}$/);
      assert.ok(pub.etag);
      assert.match(pub.answer ?? "", /^v=0\r\n/);
      assert.ok(!/a=candidate:\S+ \d \w+ \d+ (?!127\.)\d+\.\d+\.\d+\.\d+/.test(pub.answer!), "only loopback candidates in the answer");
      const info = await waitFor("stream live over WHIP", async () => {
        const b = await state(s.id);
        return b.state === "live" && b.ingest?.protocol === "whip" ? b : undefined;
      }, 5000);
      assert.equal(info.ingest.remoteAddress, "127.0.0.1");
      await waitFor("HLS playlist", async () => (await fetch(s.hlsUrl)).ok, 15000, 100);
      const firstHlsMs = Date.now() - t0;
      const mediaUrl = s.hlsUrl.replace("index.m3u8", "source/index.m3u8");
      const media = await waitFor("two segments", async () => {
        const t = await (await fetch(mediaUrl)).text();
        return (t.match(/\.ts/g) ?? []).length >= 2 ? t : undefined;
      }, 15000, 200);
      const durations = [...media.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
      for (const d of durations) assert.ok(d > 0.5 && d < 4.5, `segment duration ${d}`);
      const bytes = Buffer.from(await (await fetch(new URL("0.ts", mediaUrl))).arrayBuffer());
      const probe = await ffprobe(bytes);
      const v = probe.streams.find((x) => x.codec_type === "video");
      const a = probe.streams.find((x) => x.codec_type === "audio");
      assert.equal(v?.codec_name, "h264");
      assert.equal(v?.width, 640);
      assert.equal(v?.height, 360);
      assert.equal(a?.codec_name, "aac");
      const frames = await ffprobe(bytes, ["-show_frames", "-select_streams", "v", "-read_intervals", "%+#1"]);
      assert.equal(frames.frames?.[0]?.key_frame, 1, "segment starts with a keyframe");
      const live = await state(s.id);
      assert.equal(live.ingest.video.codec, "h264");
      assert.ok(live.ingest.bitrate > 200000, `ingest bitrate ${live.ingest.bitrate}`);

      const t1 = Date.now();
      const del = await fetch(new URL(pub.location!, w.http), { method: "DELETE" });
      assert.equal(del.status, 200);
      await waitFor("idle after DELETE", async () => (await state(s.id)).state === "idle", 3000, 25);
      const idleMs = Date.now() - t1;
      assert.ok(idleMs <= 1000, `idle ${idleMs} ms after DELETE`);
      assert.equal((await state(s.id)).lastEnded.reason, "publisher-left");
      await waitFor("playlist ended", async () => /#EXT-X-ENDLIST/.test(await (await fetch(mediaUrl)).text()), 3000);
      assert.equal((await fetch(new URL(pub.location!, w.http), { method: "DELETE" })).status, 404, "resource is gone");
      console.log(`# WHIP H.264: first HLS playlist ${firstHlsMs} ms after POST; idle ${idleMs} ms after DELETE`);
    } finally {
      await pub.stop({ delete: false });
    }
  });

  test("VP8 publisher on the go-livepeer path is transcoded to H.264 HLS; losing the publisher ends the stream", async () => {
    const s = await createStream("whip-vp8");
    const pub = await publishWhip(`${w.http}/live/video-to-video/${s.id}/whip`, s.streamKey, { codec: "VP8", size: "320x240" });
    try {
      assert.equal(pub.status, 201, JSON.stringify(pub.error));
      await waitFor("HLS playlist", async () => (await fetch(s.hlsUrl)).ok, 15000, 100);
      const mediaUrl = s.hlsUrl.replace("index.m3u8", "source/index.m3u8");
      const bytes = Buffer.from(await (await fetch(new URL("0.ts", mediaUrl))).arrayBuffer());
      const probe = await ffprobe(bytes);
      assert.equal(probe.streams.find((x) => x.codec_type === "video")?.codec_name, "h264");
      assert.equal(probe.streams.find((x) => x.codec_type === "video")?.width, 320);
      assert.equal(probe.streams.find((x) => x.codec_type === "audio")?.codec_name, "aac");
      const frames = await ffprobe(bytes, ["-show_frames", "-select_streams", "v", "-read_intervals", "%+#1"]);
      assert.equal(frames.frames?.[0]?.key_frame, 1);
      // Publisher vanishes without DELETE (peer closed): the stream ends.
      const t1 = Date.now();
      await pub.stop({ delete: false });
      await waitFor("idle after publisher loss", async () => (await state(s.id)).state === "idle", 5000, 50);
      assert.ok(Date.now() - t1 < 3000, `idle after ${Date.now() - t1} ms`);
    } finally {
      await pub.stop({ delete: false });
    }
  });

  test("bad requests get their status codes; a concurrent session keeps streaming", async () => {
    const live = await createStream("whip-live");
    const other = await createStream("whip-other");
    const pub = await publishWhip(live.whipUrl, live.streamKey, { codec: "H264", size: "320x240", bitrate: "300k" });
    const extra: WhipPublisher[] = [];
    try {
      assert.equal(pub.status, 201);
      await waitFor("live", async () => (await state(live.id)).state === "live", 5000);
      const offer = await sampleOffer();
      const sdpHeaders = (key?: string) => ({ "content-type": "application/sdp", ...(key ? { authorization: `Bearer ${key}` } : {}) });

      // 415: wrong content type (JSON, text, none), with a JSON error body.
      for (const ct of ["application/json", "text/plain", "application/x-www-form-urlencoded"]) {
        const r = await whipPost(other.whipUrl, ct === "application/json" ? "{}" : offer, { "content-type": ct, authorization: `Bearer ${other.streamKey}` });
        assert.equal(r.status, 415, `${ct}: ${r.text}`);
        assert.equal(r.json?.error, "Unsupported Media Type");
        assert.match(r.json?.message, /application\/sdp/);
      }
      // 401: no key, unknown key. 403: another stream's key. 404: unknown stream.
      let r = await whipPost(other.whipUrl, offer, sdpHeaders());
      assert.equal(r.status, 401);
      assert.match(r.headers.get("www-authenticate") ?? "", /Bearer/);
      r = await whipPost(other.whipUrl, offer, sdpHeaders("sk_not_a_real_key"));
      assert.equal(r.status, 401, r.text);
      r = await whipPost(other.whipUrl, offer, sdpHeaders(live.streamKey));
      assert.equal(r.status, 403, r.text);
      r = await whipPost(`${w.http}/v1/streams/str_nope/whip`, offer, sdpHeaders(other.streamKey));
      assert.equal(r.status, 404, r.text);
      assert.equal((await state(other.id)).state, "idle", "refused requests create no session");

      // 409: a second publisher on a live stream.
      const second = await publishWhip(live.whipUrl, live.streamKey, { codec: "H264" });
      assert.equal(second.status, 409, JSON.stringify(second.error));
      assert.match((second.error as { message: string }).message, /already live/);

      // 400: malformed SDP, never a crash.
      const garbage = [
        "",
        "hello",
        "v=0\r\n",
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video abc RTP/AVP x\r\n",
        Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7919) % 256)).toString("latin1"),
        offer.slice(0, Math.floor(offer.length / 2)),
        offer.replace(/a=fingerprint:[^\r\n]+\r\n/g, ""),
        offer.replace(/a=rtpmap:(\d+) \S+/g, "a=rtpmap:$1 H264"),
        offer.replace(/m=video[\s\S]*?(?=m=audio)/, ""), // audio only
        offer.replace(/h264\/90000/gi, "H265/90000"),
        offer.replace(/a=sendonly/g, "a=recvonly"),
        offer.replace(/a=ice-pwd:[^\r\n]+\r\n/g, ""),
        "v=0\r\n" + "a=x\r\n".repeat(5000),
      ];
      for (const [i, body] of garbage.entries()) {
        const g = await whipPost(other.whipUrl, body, sdpHeaders(other.streamKey));
        assert.equal(g.status, 400, `garbage #${i}: ${g.status} ${g.text.slice(0, 200)}`);
        assert.equal(g.json?.error, "Bad Request");
      }
      // Too large: 413.
      const big = await whipPost(other.whipUrl, "v=0\r\n" + "a=" + "x".repeat(70 * 1024) + "\r\n", sdpHeaders(other.streamKey));
      assert.equal(big.status, 413);

      // Random mutations of a real offer: any 2xx/4xx, never 5xx; accepted ones are deleted again.
      const rand = rng(42);
      const lines = offer.split("\r\n");
      for (let i = 0; i < 30; i++) {
        const l = [...lines];
        for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) {
          const at = Math.floor(rand() * l.length);
          const op = rand();
          if (op < 0.3) l.splice(at, 1);
          else if (op < 0.5) l.splice(at, 0, l[Math.floor(rand() * l.length)]!);
          else {
            const s = l[at] ?? "";
            const pos = Math.floor(rand() * Math.max(1, s.length));
            const ch = String.fromCharCode(32 + Math.floor(rand() * 95));
            l[at] = s.slice(0, pos) + ch + s.slice(pos + 1);
          }
        }
        const g = await whipPost(other.whipUrl, l.join("\r\n"), sdpHeaders(other.streamKey));
        assert.ok(g.status === 201 || (g.status >= 400 && g.status < 500), `mutation #${i}: ${g.status} ${g.text.slice(0, 200)}`);
        if (g.status === 201) {
          const loc = g.headers.get("location")!;
          assert.equal((await fetch(new URL(loc, w.http), { method: "DELETE" })).status, 200);
          await waitFor("idle", async () => (await state(other.id)).state === "idle", 3000, 25);
        }
      }

      // PATCH (trickle ICE) is a clear 405; unknown resources are 404.
      const patch = await fetch(new URL(pub.location!, w.http), { method: "PATCH", headers: { "content-type": "application/trickle-ice-sdpfrag" }, body: "a=ice-ufrag:x\r\n" });
      assert.equal(patch.status, 405);
      assert.equal(patch.headers.get("allow"), "DELETE");
      assert.equal((await fetch(`${w.http}/v1/whip/00000000-0000-0000-0000-000000000000`, { method: "DELETE" })).status, 404);

      // CORS preflight for a browser publisher on another origin.
      const pre = await fetch(other.whipUrl, {
        method: "OPTIONS",
        headers: { origin: "https://studio.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type, authorization" },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get("access-control-allow-origin"), "https://studio.example");
      assert.match(pre.headers.get("access-control-allow-methods") ?? "", /POST/);
      assert.match(pre.headers.get("access-control-allow-headers") ?? "", /authorization/i);
      const preDel = await fetch(`${w.http}${pub.location}`, { method: "OPTIONS", headers: { origin: "https://studio.example", "access-control-request-method": "DELETE" } });
      assert.equal(preDel.status, 204);
      assert.match(preDel.headers.get("access-control-allow-methods") ?? "", /DELETE/);
      const cross = await whipPost(other.whipUrl, "hello", { ...sdpHeaders(other.streamKey), origin: "https://studio.example" });
      assert.equal(cross.status, 400);
      assert.match(cross.headers.get("access-control-expose-headers") ?? "", /Location/);
      assert.match(cross.headers.get("access-control-expose-headers") ?? "", /ETag/);

      // The live session was never disturbed.
      const before = (await state(live.id)).ingest.bytesIn;
      await sleep(1000);
      const now = await state(live.id);
      assert.equal(now.state, "live");
      assert.ok(now.ingest.bytesIn > before, "live session still receiving media");
      assert.equal((await fetch(`${w.http}/healthz`)).status, 200);
    } finally {
      for (const p of extra) await p.stop();
      await pub.stop();
    }
  });
});
