// What the orchestrator fault tests share: development orchestrators behind fault proxies, the
// faults applied in turn to the orchestrator in use, and the playlist stall bounds.
import assert from "node:assert/strict";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { sleep } from "../support/wait.ts";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.ts";
import type { PlaylistStalls } from "./playlist-recorder.ts";

export const FAULT_MS = 5000;
export const RECOVER_MS = 4000;

export interface Node {
  orch: OrchestratorProcess;
  proxy: FaultProxy;
}

/** A development orchestrator behind a fault proxy: Wharf knows it (and it advertises itself) by the proxy's URL. */
export async function proxiedOrchestrator(args: string[], cleanup: Array<() => Promise<unknown>>): Promise<Node> {
  const proxy = await startFaultProxy();
  const orch = await startOrchestratorProcess(["--control", "--x264-preset", "ultrafast", "--service-url", proxy.url, ...args], { http: true });
  proxy.upstreamPort = orch.port;
  cleanup.push(() => orch.kill(), () => proxy.close());
  return { orch, proxy };
}

export type Fault = { name: string; start(n: Node): Promise<void>; end(n: Node): Promise<void> };

/** SIGKILLed (then restarted on its port), garbage answers; the stall differs per pipeline. */
export const killed: Fault = { name: "SIGKILL", start: (n) => n.orch.kill("SIGKILL"), end: (n) => n.orch.restart() };
export const garbage: Fault = { name: "garbage", start: async (n) => void (n.proxy.garbage = true), end: async (n) => void (n.proxy.garbage = false) };

export function report(label: string, stalls: PlaylistStalls, segmentDurationS: number): void {
  console.log(`orchestrator-faults ${label}: ${stalls.entries} segments of ${segmentDurationS} s (${stalls.gaps} EXT-X-GAP, ${stalls.discontinuities} discontinuities, ${stalls.missed} missed); largest program-date-time hole ${Math.round(stalls.maxPdtHoleMs)} ms, longest EXTINF ${stalls.maxExtinfS} s, longest wait for a new segment ${stalls.maxListingWaitMs} ms, player stall ${Math.round(stalls.maxPlayerStallMs)} ms ${JSON.stringify(stalls.playerStalls)}, holes ${JSON.stringify(stalls.holes)}`);
}

/**
 * What a viewer of a stream with an orchestrator swap sees: a player 3 target durations behind
 * the live edge never waits more than 2 segment durations, every segment is listed, and media
 * skipped at a swap is marked. Live AI output is bursty (the orchestrator returns a segment's
 * frames together), so the program-date-time of arrival is not the measure here.
 */
export function assertNoViewerStall(stalls: PlaylistStalls, segmentDurationS: number): void {
  const limitMs = 2 * segmentDurationS * 1000;
  assert.ok(stalls.entries >= 10, `only ${stalls.entries} segments recorded`);
  assert.equal(stalls.missed, 0, "every segment was listed");
  assert.ok(stalls.maxPlayerStallMs <= limitMs, `a player stalled ${Math.round(stalls.maxPlayerStallMs)} ms: ${JSON.stringify(stalls.playerStalls)}`);
  assert.ok(stalls.maxExtinfS * 1000 <= limitMs, `a segment of ${stalls.maxExtinfS} s`);
}

export function assertNoStall(stalls: PlaylistStalls, segmentDurationS: number): void {
  const limitMs = 2 * segmentDurationS * 1000;
  assert.ok(stalls.entries >= 10, `only ${stalls.entries} segments recorded`);
  assert.equal(stalls.missed, 0, "every segment was listed");
  assert.ok(stalls.maxPdtHoleMs <= limitMs, `program-date-time hole of ${stalls.maxPdtHoleMs} ms`);
  assert.ok(stalls.maxExtinfS * 1000 <= limitMs, `a segment of ${stalls.maxExtinfS} s`);
  assert.deepEqual(stalls.unmarkedHoles, [], "holes are marked");
}

/** Applies each fault in turn to the victim of the moment; answers when the first one started. */
export async function runFaults(faults: Fault[], victim: () => Promise<Node>, between: () => Promise<void>): Promise<number> {
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
