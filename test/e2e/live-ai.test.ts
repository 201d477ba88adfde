// Live AI end to end: a real Wharf, two development orchestrators as separate processes
// (plaintext and TLS), an RTMP publisher. noop output matches the input picture, a params
// update turns the output gray within two segment durations, and a SIGKILL of the active
// orchestrator is survived by the hot standby with a short gap and an HLS discontinuity.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { playWhep, type WhepPlayer } from "../support/whip-client.ts";
import { aiPlaylist, chroma, createLiveStream, fetchBytes, liveStatus, psnrAgainstBars, pushBars, waitForNewSegments, waitForSegments } from "./live-ai.helpers.ts";

const SEG = 1; // segment duration (s)
let a: OrchestratorProcess;
let b: OrchestratorProcess;
let w: WharfProcess;

describe("live-video-to-video", { timeout: 150000 }, () => {
  before(async () => {
    [a, b] = await Promise.all([
      startOrchestratorProcess(["--no-ai", "--live-events-ms", "1000"], { http: true }),
      startOrchestratorProcess(["--no-ai", "--live-events-ms", "1000"]), // TLS, self-signed
    ]);
    w = await startWharf({ env: { WHARF_ORCH_ADDR: `${a.url},${b.url}`, WHARF_SEGMENT_DURATION: String(SEG), WHARF_HLS_WINDOW: "10" } });
  });
  after(async () => {
    await w?.stop();
    await Promise.allSettled([a?.kill(), b?.kill()]);
  });

  test("noop output matches the input, params turn it gray, a killed orchestrator is replaced by the standby", async () => {
    const s = await createLiveStream(w, "noop");
    const pub = pushBars(s.rtmpUrl);
    let viewer: WhepPlayer | undefined;
    try {
      // --- noop: the output is the input picture
      const first = await waitForSegments(s.hlsUrl, 2, 25000);
      const master = await (await fetch(s.hlsUrl)).text();
      assert.match(master, /RESOLUTION=320x240/);
      assert.match(master, /ai\/index\.m3u8/);
      const seg = await fetchBytes(first[1]!.uri);
      const psnr = await psnrAgainstBars(seg);
      assert.ok(psnr > 30, `noop output PSNR vs the input bars: ${psnr} dB`);
      const colour = await chroma(seg);
      assert.ok(colour.sat > 10, `bars have colour: ${JSON.stringify(colour)}`);

      // Output frame rate follows the input's (3 s windows; on a loaded machine output comes in
      // bursts, so wait for a window where they agree rather than judge one sample).
      const st = await waitFor("standby ready and frame rates measured", async () => {
        const x = await liveStatus(w, s.id);
        return x?.standby?.state === "ready" && x.output.fps > 20 && Math.abs(x.input.fps - x.output.fps) < 6 && x.orchestrator?.lastEvent ? x : undefined;
      }, 20000, 200);
      assert.equal(st.state, "running");
      assert.ok([a.url, b.url].includes(st.orchestrator.address), st.orchestrator.address);
      assert.ok([a.url, b.url].includes(st.standby.address));
      assert.notEqual(st.standby.address, st.orchestrator.address);
      assert.ok(Math.abs(st.input.fps - st.output.fps) < 6, `fps in ${st.input.fps} out ${st.output.fps}`);
      assert.ok(st.orchestrator.lastEvent.frames_out > 0);
      console.log(`noop: PSNR ${psnr.toFixed(1)} dB, fps in/out ${st.input.fps}/${st.output.fps}, latency ${JSON.stringify(st.latency)}`);

      // --- params update: gray within two segment durations
      const before = (await aiPlaylist(s.hlsUrl))!.entries.at(-1)!;
      const t0 = Date.now();
      const upd = await w.api("POST", `/v1/streams/${s.id}/params`, { params: { effect: "grayscale" } });
      assert.equal(upd.status, 200, JSON.stringify(upd.body));
      assert.equal(upd.body.applied, true);
      // Segments that started after the update: the first gray one must start within 2 segment durations.
      const gray = await waitFor("a gray output segment", async () => {
        const p = await aiPlaylist(s.hlsUrl);
        for (const e of p?.entries ?? []) {
          if (e.pdt <= before.pdt) continue;
          const c = await chroma(await fetchBytes(e.uri));
          if (c.sat < 1 && Math.abs(c.u - 128) < 2 && Math.abs(c.v - 128) < 2) return e;
        }
        return undefined;
      }, 15000, 300);
      const grayAfterMs = gray.pdt - t0;
      console.log(`params: first gray segment started ${grayAfterMs} ms after the update`);
      assert.ok(grayAfterMs <= 2 * SEG * 1000 + 300, `gray after ${grayAfterMs} ms`);
      // The go-livepeer path works too (and is applied to the same session).
      const upd2 = await w.api("POST", `/live/video-to-video/${s.id}/update`, { effect: "grayscale", note: "still gray" });
      assert.equal(upd2.status, 200, JSON.stringify(upd2.body));
      const bad = await w.api("POST", `/v1/streams/${s.id}/params`, { params: "gray" });
      assert.equal(bad.status, 400);

      // --- SIGKILL of the active orchestrator (a WHEP viewer watches the AI output throughout)
      viewer = await playWhep(s.whepUrl, { audio: false });
      assert.equal(viewer.status, 201);
      await waitFor("WHEP video flowing", () => viewer!.video.keyframes > 0 && viewer!.video.packets > 50, 15000, 100);
      const active = (await liveStatus(w, s.id)).orchestrator.address as string;
      const victim = active === a.url ? a : b;
      const standby = active === a.url ? b : a;
      await sleep(1500);
      const beforeKill = (await aiPlaylist(s.hlsUrl))!.entries;
      const killAt = Date.now();
      await victim.kill("SIGKILL");
      const after = await waitFor("output segments after the kill", async () => {
        const p = await aiPlaylist(s.hlsUrl);
        const i = p?.entries.findIndex((e) => e.discontinuity && e.pdt >= killAt - 1000) ?? -1;
        return p && i >= 0 && p.entries.length > i + 1 ? { p, i } : undefined;
      }, 20000, 150);
      const lastBefore = after.p.entries[after.i - 1]!;
      const firstAfter = after.p.entries[after.i]!;
      const gapMs = firstAfter.pdt - (lastBefore.pdt + lastBefore.duration * 1000);
      const st2 = await liveStatus(w, s.id);
      console.log(`kill: gap ${gapMs} ms between output segments; swap ${JSON.stringify(st2.swaps)}`);
      assert.match(after.p.text, /#EXT-X-DISCONTINUITY/);
      assert.equal(st2.orchestrator.address, standby.url);
      assert.equal(st2.swapCount, 1);
      assert.ok(st2.swaps[0].durationMs !== null && st2.swaps[0].durationMs < 2000, `swap took ${st2.swaps[0].durationMs} ms`);
      assert.ok(gapMs < 2000, `output gap ${gapMs} ms`);
      assert.ok(beforeKill.length > 0);
      // No stall: output keeps coming, still gray (params replayed on the new orchestrator).
      const more = await waitForNewSegments(s.hlsUrl, firstAfter.pdt, 2, 10000);
      const c = await chroma(await fetchBytes(more.at(-1)!.uri));
      assert.ok(c.sat < 1, `params replayed after the swap: ${JSON.stringify(c)}`);
      const metrics = await (await fetch(`${w.http}/metrics`)).text();
      assert.match(metrics, /wharf_live_swaps_total\{reason="[a-z-]+"\} 1/);
      // The WHEP viewer stayed connected on the same track through the swap, timestamps never went back.
      const packetsAtSwap = viewer.video.packets;
      await waitFor("WHEP video after the swap", () => viewer!.video.packets > packetsAtSwap + 100, 15000, 100);
      assert.equal(viewer.pc.connectionState, "connected");
      assert.equal(viewer.video.ssrcs.size, 1, "one SSRC across the orchestrator swap");
      assert.equal(viewer.video.tsBackwards, 0, "RTP timestamps never went backwards");
    } finally {
      await viewer?.stop();
      await pub.stop(500);
      if (process.env.LIVE_DEBUG) console.log(JSON.stringify(await liveStatus(w, s.id).catch((e) => String(e)), null, 1), JSON.stringify((await w.api("GET", "/v1/orchestrators")).body).slice(0, 3000), w.output().slice(-6000), a.output().slice(-2000), b.output().slice(-2000));
    }
  });
});
