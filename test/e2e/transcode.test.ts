// Transcoding through development orchestrators (separate processes, the real wire
// protocol over TLS) into an adaptive HLS ladder, with failures and price caps.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ffprobe } from "../../core/ffmpeg.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";

const LADDER = "P144p30fps16x9,P240p30fps16x9";
const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

async function text(url: string): Promise<string | undefined> {
  const res = await fetch(url);
  return res.ok ? res.text() : undefined;
}

function uris(playlist: string): string[] {
  return playlist.split("\n").filter((l) => l && !l.startsWith("#"));
}

async function transcodeStream(w: WharfProcess) {
  const res = await w.api("POST", "/v1/streams", { name: "ladder", pipeline: "transcode", transcodingOptions: LADDER });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; rtmpUrl: string; hlsUrl: string };
}

describe("transcoding through orchestrators", { timeout: 240000 }, () => {
  test("an RTMP push becomes a multivariant playlist with the configured renditions", async () => {
    const a = await startOrchestratorProcess();
    const b = await startOrchestratorProcess();
    cleanup.push(() => a.kill(), () => b.kill());
    const w = await startWharf({ env: { WHARF_ORCH_ADDR: `${a.url},${b.url}` } });
    cleanup.push(() => w.stop());
    const s = await transcodeStream(w);
    const pub = pushTestPattern(s.rtmpUrl, { seconds: 9, size: "640x360" });
    cleanup.push(() => pub.stop());
    const master = await waitFor("multivariant with the ladder", async () => {
      const t = await text(s.hlsUrl);
      return t && t.includes("P144p30fps16x9") && t.includes("P240p30fps16x9") ? t : undefined;
    }, 30000, 250);
    assert.match(master, /RESOLUTION=640x360,CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2".*NAME="source"/);
    assert.match(master, /BANDWIDTH=\d+,RESOLUTION=256x144,CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
    assert.match(master, /BANDWIDTH=\d+,RESOLUTION=426x240,CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
    await pub.exited;
    for (const [name, width, height] of [["P144p30fps16x9", 256, 144], ["P240p30fps16x9", 426, 240]] as const) {
      const mediaUrl = s.hlsUrl.replace("index.m3u8", `${name}/index.m3u8`);
      const playlist = await waitFor(`${name} complete`, async () => {
        const t = await text(mediaUrl);
        return t && t.includes("#EXT-X-ENDLIST") ? t : undefined;
      }, 20000);
      assert.ok(!playlist.includes("#EXT-X-GAP"), `${name} has gaps:\n${playlist}`);
      const segs = uris(playlist);
      assert.ok(segs.length >= 3, `${name}: ${segs.length} segments`);
      // Each segment decodes to (nearly) its EXTINF worth of 30 fps frames; the last one, the
      // stream's final second, is kept and shorter.
      const durations = [...playlist.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
      for (const [i, uri] of segs.entries()) {
        const bytes = Buffer.from(await (await fetch(new URL(uri, mediaUrl))).arrayBuffer());
        const probe = await ffprobe(bytes, ["-count_frames"]);
        const v = probe.streams.find((x) => x.codec_type === "video") as { width?: number; height?: number; nb_read_frames?: string } | undefined;
        assert.equal(v?.width, width);
        assert.equal(v?.height, height);
        const expected = Math.floor(durations[i]! * 30 * 0.8);
        assert.ok(Number(v?.nb_read_frames) >= expected, `${name}/${uri} decodes (${v?.nb_read_frames} frames of ${durations[i]} s)`);
      }
    }
    const served = (await a.status()).segments + (await b.status()).segments;
    assert.ok(served >= 4, `orchestrators served ${served} segments`);
  });

  test("an orchestrator killed mid-stream: no rendition segment goes missing, it is suspended, and used again when back", async () => {
    // b answers 800 ms slower, so selection prefers a: a is the one in use when it is killed.
    const a = await startOrchestratorProcess();
    const b = await startOrchestratorProcess(["--latency-ms", "800"]);
    cleanup.push(() => a.kill(), () => b.kill());
    const w = await startWharf({ env: { WHARF_ORCH_ADDR: `${a.url},${b.url}` } });
    cleanup.push(() => w.stop());
    const s = await transcodeStream(w);
    const pub = pushTestPattern(s.rtmpUrl, { size: "320x240" });
    cleanup.push(() => pub.stop());
    const mediaUrl = s.hlsUrl.replace("index.m3u8", "P240p30fps16x9/index.m3u8");
    await waitFor("a in use", async () => (await a.status()).segments >= 2, 40000, 300);
    await a.kill("SIGKILL");
    const killedAt = Date.now();
    // Segments listed from now on must all be real (no gap), served by b after retries.
    const firstAfter = await waitFor("a segment after the kill", async () => {
      const t = await text(mediaUrl);
      const m = t && /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(t);
      return m ? Number(m[1]) + uris(t!).length : undefined;
    }, 10000);
    await sleep(8000);
    const playlist = (await text(mediaUrl))!;
    assert.ok(!playlist.includes("#EXT-X-GAP"), `gap after the kill:\n${playlist}`);
    const lastMsn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)![1]) + uris(playlist).length - 1;
    assert.ok(lastMsn >= firstAfter + 2, "segments kept coming after the kill");
    const snap = (await w.api("GET", "/v1/orchestrators")).body.orchestrators as Array<Record<string, unknown>>;
    const dead = snap.find((o) => o.address === a.url)!;
    assert.ok(dead.suspended || dead.reachable === false, `dead orchestrator state: ${JSON.stringify(dead)}`);
    assert.ok(Date.now() - killedAt < 30000);

    // Back on the same address: once b is gone too, every segment must go to a.
    await a.restart();
    await waitFor("a reachable again", async () => {
      const list = (await w.api("GET", "/v1/orchestrators")).body.orchestrators as Array<Record<string, unknown>>;
      const o = list.find((x) => x.address === a.url)!;
      return o.reachable === true && !o.suspended;
    }, 40000, 500);
    await b.kill("SIGKILL");
    await waitFor("a serves segments again", async () => (await a.status()).segments >= 2, 40000, 500);
  });

  test("price cap: an orchestrator over maxPricePerUnit gets no segment; a flaky one never breaks the playlist", async () => {
    const pricey = await startOrchestratorProcess(["--price-per-unit", "1000"]);
    const flaky = await startOrchestratorProcess(["--price-per-unit", "1", "--fail-rate", "0.5"]);
    const good = await startOrchestratorProcess(["--price-per-unit", "1"]);
    cleanup.push(() => pricey.kill(), () => flaky.kill(), () => good.kill());
    const w = await startWharf({ env: { WHARF_ORCH_ADDR: `${pricey.url},${flaky.url},${good.url}`, WHARF_MAX_PRICE_PER_UNIT: "10" } });
    cleanup.push(() => w.stop());
    const s = await transcodeStream(w);
    const pub = pushTestPattern(s.rtmpUrl, { seconds: 10, size: "320x240" });
    cleanup.push(() => pub.stop());
    await pub.exited;
    const mediaUrl = s.hlsUrl.replace("index.m3u8", "P144p30fps16x9/index.m3u8");
    const playlist = await waitFor("complete playlist", async () => {
      const t = await text(mediaUrl);
      return t && t.includes("#EXT-X-ENDLIST") ? t : undefined;
    }, 30000);
    assert.equal((await pricey.status()).segments, 0, "the over-cap orchestrator received a segment");
    assert.ok((await good.status()).segments > 0);
    assert.ok(!playlist.includes("#EXT-X-GAP"), playlist);
    assert.equal((await fetch(`${w.http}/healthz`)).status, 200);
  });

  test("maxSessions: a transcode publisher past the limit is refused with the reason; passthrough is not counted", async () => {
    const o = await startOrchestratorProcess(["--no-ai"]);
    cleanup.push(() => o.kill());
    const w = await startWharf({ env: { WHARF_ORCH_ADDR: o.url, WHARF_MAX_SESSIONS: "1" } });
    cleanup.push(() => w.stop());
    const first = await transcodeStream(w);
    const second = await transcodeStream(w);
    const plain = (await w.api("POST", "/v1/streams", { name: "plain", pipeline: "passthrough" })).body;
    const pub = pushTestPattern(first.rtmpUrl, { seconds: 12, size: "320x180" });
    cleanup.push(() => pub.stop());
    await waitFor("first transcode stream live", async () => (await w.api("GET", `/v1/streams/${first.id}`)).body.state === "live", 10000);
    const refused = await pushTestPattern(second.rtmpUrl, { seconds: 3, size: "320x180" }).exited;
    assert.notEqual(refused.code, 0, "second transcode publisher refused");
    const view = (await w.api("GET", `/v1/streams/${second.id}`)).body;
    assert.equal(view.state, "idle");
    assert.equal(view.lastRefusal?.status, 503);
    assert.match(view.lastRefusal?.reason, /at most 1 transcode sessions.*maxSessions/, "the refusal names the setting");
    const other = pushTestPattern(`${w.rtmp}/${plain.streamKey}`, { seconds: 6, size: "320x180" });
    cleanup.push(() => other.stop());
    await waitFor("passthrough still admitted", async () => (await w.api("GET", `/v1/streams/${plain.id}`)).body.state === "live", 10000);
    await pub.stop();
    await waitFor("first idle", async () => (await w.api("GET", `/v1/streams/${first.id}`)).body.state === "idle", 8000);
    const again = pushTestPattern(second.rtmpUrl, { seconds: 6, size: "320x180" });
    cleanup.push(() => again.stop());
    await waitFor("the slot is free again", async () => (await w.api("GET", `/v1/streams/${second.id}`)).body.state === "live", 10000);
  });
});
