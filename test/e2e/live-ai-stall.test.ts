// Live AI failure detection that is not a crash: an orchestrator that stays alive but stops
// producing output is swapped within noOutputFactor x segment duration; a publisher that pauses
// (input stops) never causes a swap, and output resumes when it continues.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { OrchestratorProcess } from "../support/orchestrator.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { aiPlaylist, createLiveStream, faultableLiveOrchestrators, liveStatus, pushBars, setLiveFaults, waitForNewSegments, waitForSegments } from "./live-ai.helpers.ts";

let a: OrchestratorProcess;
let b: OrchestratorProcess;
let w: WharfProcess;

describe("live-video-to-video failure detection", { timeout: 120000 }, () => {
  before(async () => {
    [a, b] = await faultableLiveOrchestrators();
    w = await startWharf({
      env: {
        WHARF_ORCH_ADDR: `${a.url},${b.url}`,
        WHARF_SEGMENT_DURATION: "1",
        WHARF_LIVE_NO_OUTPUT_FACTOR: "2",
        // A paused publisher must stay connected for this test (no publisher-timeout kick).
        WHARF_PUBLISHER_TIMEOUT_MS: "20000",
      },
    });
  });
  after(async () => {
    await w?.stop();
    await Promise.allSettled([a?.kill(), b?.kill()]);
  });

  test("a stalled orchestrator is swapped; a paused publisher is not an orchestrator failure", async () => {
    const s = await createLiveStream(w, "noop");
    const pub = pushBars(s.rtmpUrl);
    try {
      await waitForSegments(s.hlsUrl, 2, 25000);
      const st = await waitFor("standby ready", async () => {
        const x = await liveStatus(w, s.id);
        return x?.standby?.state === "ready" ? x : undefined;
      }, 15000, 200);
      const active = st.orchestrator.address === a.url ? a : b;
      const other = active === a ? b : a;

      // --- alive but silent: detected by the no-output clock (2 x 1 s) and swapped
      const stalledAt = Date.now();
      await setLiveFaults(active, { stallOutput: true });
      const swapped = await waitFor("swap away from the stalled orchestrator", async () => {
        const x = await liveStatus(w, s.id);
        return x?.swapCount === 1 && x.orchestrator?.address === other.url && x.swaps[0].durationMs !== null ? x : undefined;
      }, 15000, 100);
      const detectedMs = Date.parse(swapped.swaps[0].at) - stalledAt;
      console.log(`stall: detected after ${detectedMs} ms, swap ${JSON.stringify(swapped.swaps[0])}`);
      assert.equal(swapped.swaps[0].reason, "no-output");
      assert.ok(detectedMs < 4500, `stall detected after ${detectedMs} ms`);
      assert.ok(swapped.swaps[0].durationMs < 2000);
      await setLiveFaults(active, { stallOutput: false });
      await waitForNewSegments(s.hlsUrl, Date.parse(swapped.swaps[0].at), 2, 10000);

      // --- the publisher pauses for 5 s (> 2 x segment duration), then continues: no swap
      pub.child.kill("SIGSTOP");
      await sleep(5000);
      const paused = await liveStatus(w, s.id);
      assert.equal(paused.swapCount, 1, `no swap while the publisher is paused: ${JSON.stringify(paused.swaps)}`);
      assert.equal(paused.state, "running");
      const resumeAt = Date.now();
      pub.child.kill("SIGCONT");
      await waitForNewSegments(s.hlsUrl, resumeAt, 2, 15000);
      await sleep(2500);
      const resumed = await liveStatus(w, s.id);
      assert.equal(resumed.swapCount, 1, `no swap after the publisher resumed: ${JSON.stringify(resumed.swaps)}`);
      assert.equal(resumed.orchestrator.address, other.url);
    } finally {
      pub.child.kill("SIGCONT");
      if (process.env.LIVE_DEBUG) console.log(JSON.stringify(await liveStatus(w, s.id).catch((e) => String(e))), (await aiPlaylist(s.hlsUrl))?.text, w.output().slice(-3000));
      await pub.stop(500);
    }
  });
});
