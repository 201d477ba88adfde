// Chaos: the orchestrator serving a stream is SIGKILLed, stalled, then answers garbage, for a
// transcode stream and a live AI stream. The output playlist never stalls longer than 2 segment
// durations (program-date-time holes, EXTINF) and what could not be processed is marked
// (EXT-X-GAP or EXT-X-DISCONTINUITY).
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "undici";
import type { FfmpegProcess } from "../../core/ffmpeg.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { createLiveStream, liveStatus, pushBars } from "../e2e/live-ai.helpers.ts";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.ts";
import { measureStalls, recordPlaylist, type PlaylistStalls } from "./playlist-recorder.ts";

const FAULT_MS = 5000;
const RECOVER_MS = 4000;

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

interface Node {
  orch: OrchestratorProcess;
  proxy: FaultProxy;
}

/** A development orchestrator behind a fault proxy: Wharf knows it (and it advertises itself) by the proxy's URL. */
async function proxiedOrchestrator(args: string[]): Promise<Node> {
  const proxy = await startFaultProxy();
  const orch = await startOrchestratorProcess(["--control", "--x264-preset", "ultrafast", "--service-url", proxy.url, ...args], { http: true });
  proxy.upstreamPort = orch.port;
  cleanup.push(() => orch.kill(), () => proxy.close());
  return { orch, proxy };
}

type Fault = { name: string; start(n: Node): Promise<void>; end(n: Node): Promise<void> };

function report(label: string, stalls: PlaylistStalls, segmentDurationS: number): void {
  console.log(`orchestrator-faults ${label}: ${stalls.entries} segments of ${segmentDurationS} s (${stalls.gaps} EXT-X-GAP, ${stalls.discontinuities} discontinuities, ${stalls.missed} missed); largest program-date-time hole ${Math.round(stalls.maxPdtHoleMs)} ms, longest EXTINF ${stalls.maxExtinfS} s, longest wait for a new segment ${stalls.maxListingWaitMs} ms, holes ${JSON.stringify(stalls.holes)}`);
}

function assertNoStall(stalls: PlaylistStalls, segmentDurationS: number): void {
  const limitMs = 2 * segmentDurationS * 1000;
  assert.ok(stalls.entries >= 10, `only ${stalls.entries} segments recorded`);
  assert.equal(stalls.missed, 0, "every segment was listed");
  assert.ok(stalls.maxPdtHoleMs <= limitMs, `program-date-time hole of ${stalls.maxPdtHoleMs} ms`);
  assert.ok(stalls.maxExtinfS * 1000 <= limitMs, `a segment of ${stalls.maxExtinfS} s`);
  assert.deepEqual(stalls.unmarkedHoles, [], "holes are marked");
}

/** Applies each fault in turn to the victim of the moment; answers when the first one started. */
async function runFaults(faults: Fault[], victim: () => Promise<Node>, between: () => Promise<void>): Promise<number> {
  let firstAt = 0;
  for (const f of faults) {
    const n = await victim();
    firstAt ||= Date.now();
    await f.start(n);
    await sleep(FAULT_MS);
    await f.end(n);
    await sleep(RECOVER_MS);
    await between();
  }
  return firstAt;
}

describe("orchestrator faults mid-stream", { timeout: 150_000 }, () => {
  test("transcode: killed, stalled, garbage: no stall over 2 segment durations, gaps marked", async () => {
    const SEGMENT_S = 2;
    const nodes = await Promise.all([proxiedOrchestrator(["--no-ai", "--no-live"]), proxiedOrchestrator(["--no-ai", "--no-live"])]);
    const w = await startWharf({ env: { WHARF_ORCH_ADDR: nodes.map((n) => n.proxy.url).join(","), WHARF_SEGMENT_DURATION: String(SEGMENT_S) } });
    cleanup.push(() => w.stop());
    const created = await w.api("POST", "/v1/streams", { name: "chaos", pipeline: "transcode", transcodingOptions: "P144p30fps16x9" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const s = created.body as { hlsUrl: string; rtmpUrl: string };
    const pub: FfmpegProcess = pushTestPattern(s.rtmpUrl, { size: "320x240" });
    cleanup.push(() => pub.stop());
    const mediaUrl = s.hlsUrl.replace("index.m3u8", "P144p30fps16x9/index.m3u8");
    await waitFor("transcoded segments", async () => (await fetch(mediaUrl)).ok, 30000, 250);
    const recorder = recordPlaylist(mediaUrl);

    // The victim is the orchestrator that transcoded the latest segments.
    const busiest = async (): Promise<Node> => {
      const before = await Promise.all(nodes.map((n) => n.orch.status().then((x) => x.segments, () => 0)));
      await sleep(2 * SEGMENT_S * 1000);
      const now = await Promise.all(nodes.map((n) => n.orch.status().then((x) => x.segments, () => 0)));
      return now[1]! - before[1]! > now[0]! - before[0]! ? nodes[1]! : nodes[0]!;
    };
    await runFaults(
      [
        { name: "SIGKILL", start: (n) => n.orch.kill("SIGKILL"), end: (n) => n.orch.restart() },
        { name: "stall", start: (n) => n.orch.configure({ latencyMs: 60_000 }), end: (n) => n.orch.configure({ latencyMs: 0 }) },
        { name: "garbage", start: async (n) => void (n.proxy.garbage = true), end: async (n) => void (n.proxy.garbage = false) },
      ],
      busiest,
      async () => {},
    );
    const stalls = measureStalls(await recorder.stop(), SEGMENT_S);
    await pub.stop();
    report("transcode", stalls, SEGMENT_S);
    assertNoStall(stalls, SEGMENT_S);
    assert.equal(w.proc.exitCode, null);
  });

  let liveStalls: PlaylistStalls | undefined;
  const LIVE_SEGMENT_S = 1;

  test("live AI: killed, stalled, garbage: every fault is detected, marked by a discontinuity, and output resumes", async () => {
    const liveArgs = ["--no-ai", "--live-faults", "--live-events-ms", "1000"];
    const nodes = await Promise.all([proxiedOrchestrator(liveArgs), proxiedOrchestrator(liveArgs)]);
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
        { name: "SIGKILL", start: (n) => n.orch.kill("SIGKILL"), end: (n) => n.orch.restart() },
        { name: "stall", start: (n) => setFaults(n, { stallOutput: true }), end: (n) => setFaults(n, { stallOutput: false }) },
        { name: "garbage", start: async (n) => void (n.proxy.garbage = true), end: async (n) => void (n.proxy.garbage = false) },
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

  // Fails today, also with no fault at all on a loaded 2-core machine: live AI output reaches the
  // playlist in bursts (several segments within 50 ms, then seconds of nothing), and the packager
  // stamps program-date-time from arrival (media/hls/packager.ts, segment.startedAt), so the
  // playlist shows holes of 2.5-3.5 s and overlapping times; a stall is also only detected after
  // liveNoOutputFactor (>= 1, 1.5 here) segment durations. See docs/reliability.md.
  test("live AI: no stall over 2 segment durations in the output playlist", { todo: "live AI output arrives in bursts, program-date-time is arrival time" }, () => {
    assert.ok(liveStalls, "the live AI fault run recorded a playlist");
    assertNoStall(liveStalls, LIVE_SEGMENT_S);
  });
});
