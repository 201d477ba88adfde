// Chaos: the orchestrator pinned to a live AI stream is SIGKILLed, stalls its output, then answers
// garbage (trickle included). Each fault is detected and swapped, marked by a discontinuity, and
// output resumes; the output playlist's stalls are measured against 2 segment durations.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "undici";
import { startWharf } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { createLiveStream, liveStatus, pushBars } from "../e2e/live-ai.helpers.ts";
import { assertNoViewerStall, garbage, killed, proxiedOrchestrator, RECOVER_MS, report, runFaults, type Node } from "./orchestrator-faults.ts";
import { measureStalls, recordPlaylist, type PlaylistStalls } from "./playlist-recorder.ts";

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

describe("live AI orchestrator faults mid-stream", { timeout: 120_000 }, () => {
  let liveStalls: PlaylistStalls | undefined;
  const LIVE_SEGMENT_S = 1;

  test("live AI: killed, stalled, garbage: every fault is detected, marked by a discontinuity, and output resumes", async () => {
    const liveArgs = ["--no-ai", "--live-faults", "--live-events-ms", "1000"];
    const nodes = await Promise.all([proxiedOrchestrator(liveArgs, cleanup), proxiedOrchestrator(liveArgs, cleanup)]);
    const w = await startWharf({
      env: {
        WHARF_ORCH_ADDR: nodes.map((n) => n.proxy.url).join(","),
        WHARF_SEGMENT_DURATION: String(LIVE_SEGMENT_S),
        WHARF_LIVE_NO_OUTPUT_FACTOR: "1.5",
        WHARF_LIVE_MAX_SWAPS: "20",
      },
    });
    cleanup.push(() => w.stop());
    const s = await createLiveStream(w, "noop");
    const pub = pushBars(s.rtmpUrl);
    cleanup.push(() => pub.stop());
    const mediaUrl = new URL("ai/index.m3u8", s.hlsUrl).toString();
    const standbyReady = () => waitFor("standby ready", async () => ((await liveStatus(w, s.id))?.standby?.state === "ready" ? true : undefined), 20000, 200);
    await waitFor("ai segments", async () => (await fetch(mediaUrl)).ok, 30000, 250);
    await standbyReady();
    const recorder = recordPlaylist(mediaUrl);
    await sleep(RECOVER_MS);
    const pinned = async (): Promise<Node> => {
      const address = (await liveStatus(w, s.id)).orchestrator?.address;
      return nodes.find((n) => n.proxy.url === address) ?? nodes[0]!;
    };
    const setFaults = async (n: Node, faults: Record<string, boolean>) => {
      const res = await request(`${n.orch.url}/wharf/live/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(faults) });
      await res.body.dump();
    };
    const firstFaultAt = await runFaults(
      [
        killed,
        { name: "stall", start: (n) => setFaults(n, { stallOutput: true }), end: (n) => setFaults(n, { stallOutput: false }) },
        garbage,
      ],
      pinned,
      () => standbyReady().then(() => {}),
    );
    const entries = await recorder.stop();
    const status = await liveStatus(w, s.id);
    await pub.stop(500);
    liveStalls = measureStalls(entries, LIVE_SEGMENT_S);
    const baseline = measureStalls(entries.filter((e) => e.firstListedAt < firstFaultAt), LIVE_SEGMENT_S);
    report("live AI", liveStalls, LIVE_SEGMENT_S);
    report("live AI before any fault", baseline, LIVE_SEGMENT_S);
    const swaps = (status.swaps ?? []) as Array<{ reason: string; durationMs: number | null }>;
    console.log(`orchestrator-faults live AI swaps: ${swaps.map((x) => `${x.reason} in ${x.durationMs} ms`).join(", ")}`);
    assert.ok(swaps.length >= 3, `each fault swapped the orchestrator: ${JSON.stringify(swaps)}`);
    assert.ok(liveStalls.discontinuities >= swaps.length, `${swaps.length} swaps, ${liveStalls.discontinuities} discontinuities`);
    assert.ok(entries.at(-1)!.firstListedAt > Date.now() - RECOVER_MS - 3000, "output resumed after the last fault");
    assert.equal(w.proc.exitCode, null);
  });

  // Live AI output reaches the playlist in bursts (the orchestrator answers a segment's frames
  // together; on the loaded 2-core machine 4 segments within 50 ms, then seconds of nothing even
  // without a fault), so program-date-time of arrival shows holes no viewer sees: the bound is
  // asserted on a player held 3 target durations behind the live edge (docs/reliability.md).
  test("live AI: a viewer never waits more than 2 segment durations, across every fault", () => {
    assert.ok(liveStalls, "the live AI fault run recorded a playlist");
    assertNoViewerStall(liveStalls, LIVE_SEGMENT_S);
  });
});
