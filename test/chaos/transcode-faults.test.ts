// Chaos: the orchestrator transcoding a stream is SIGKILLed, stalled (60 s latency), then answers
// garbage. The rendition playlist never stalls longer than 2 segment durations (program-date-time
// holes, EXTINF) and a segment no one could transcode is an EXT-X-GAP.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import type { FfmpegProcess } from "../../core/ffmpeg.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { startWharf } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { assertNoStall, garbage, killed, proxiedOrchestrator, report, runFaults, type Node } from "./orchestrator-faults.ts";
import { measureStalls, recordPlaylist } from "./playlist-recorder.ts";

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
for (const c of cleanup.reverse()) await c().catch(() => {});
});

test("transcode: killed, stalled, garbage: no stall over 2 segment durations, gaps marked", { timeout: 120_000 }, async () => {
  const SEGMENT_S = 2;
  const nodes = await Promise.all([proxiedOrchestrator(["--no-ai", "--no-live"], cleanup), proxiedOrchestrator(["--no-ai", "--no-live"], cleanup)]);
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
      killed,
      { name: "stall", start: (n) => n.orch.configure({ latencyMs: 60_000 }), end: (n) => n.orch.configure({ latencyMs: 0 }) },
      garbage,
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

