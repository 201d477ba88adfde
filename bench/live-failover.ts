// Live AI benchmark: swap time (kill of the active orchestrator -> first output byte from the
// standby) over N kills, and the gateway-added latency on the live path (ingest byte in ->
// written to the orchestrator; output byte from the orchestrator -> available to HLS/WHEP).
//   node --import tsx bench/live-failover.ts [kills=10]
// Real processes: Wharf, 4 development orchestrators (plaintext), an RTMP publisher (320x240).
import { pushTestPattern } from "../test/support/publisher.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../test/support/orchestrator.ts";
import { startWharf } from "../test/support/wharf.ts";
import { sleep, waitFor } from "../test/support/wait.ts";
import { quantile } from "../core/percentile.ts";

const KILLS = Number(process.argv[2] ?? 10);
const pct = (xs: number[], p: number) => quantile(xs, p / 100);

async function main(): Promise<void> {
  const orchs: OrchestratorProcess[] = await Promise.all(
    [0, 1, 2, 3].map(() => startOrchestratorProcess(["--no-ai", "--live-events-ms", "1000"], { http: true })),
  );
  const w = await startWharf({ env: { WHARF_ORCH_ADDR: orchs.map((o) => o.url).join(","), WHARF_SEGMENT_DURATION: "1", WHARF_LIVE_MAX_SWAPS: "100" } });
  const status = async (id: string) => (await w.api("GET", `/v1/streams/${id}/status`)).body.processor;
  try {
    const s = (await w.api("POST", "/v1/streams", { name: "bench", pipeline: "live-video-to-video", modelId: "noop" })).body;
    const pub = pushTestPattern(s.rtmpUrl, { size: "320x240" });
    await waitFor("standby ready", async () => (await status(s.id))?.standby?.state === "ready", 30000, 200);
    await sleep(3000);
    const killToOutput: number[] = [];
    const detectToOutput: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      const st = await waitFor("running with a ready standby", async () => {
        const x = await status(s.id);
        return x?.state === "running" && x.standby?.state === "ready" && x.output.fps > 20 ? x : undefined;
      }, 60000, 100);
      const victim = orchs.find((o) => o.url === st.orchestrator.address)!;
      const before = st.swapCount as number;
      const killAt = Date.now();
      await victim.kill("SIGKILL");
      const after = await waitFor("swap done", async () => {
        const x = await status(s.id);
        const rec = x?.swaps?.[x.swaps.length - 1];
        return x?.swapCount > before && rec?.durationMs !== null && rec?.durationMs !== undefined ? rec : undefined;
      }, 30000, 50).catch(async (err) => {
        console.log(JSON.stringify(await status(s.id)), w.output().slice(-3000));
        throw err;
      });
      const k = Date.parse(after.at) + after.durationMs - killAt;
      killToOutput.push(k);
      detectToOutput.push(after.durationMs);
      console.log(`kill ${i + 1}: ${after.reason}, kill -> first output byte ${k} ms (detected -> output ${after.durationMs} ms), ${after.from} -> ${after.to}`);
      await victim.restart();
      await sleep(4000);
    }
    const st = await status(s.id);
    await pub.stop(500);
    console.log(JSON.stringify({
      kills: KILLS,
      killToFirstOutputMs: { median: pct(killToOutput, 50), worst: Math.max(...killToOutput), all: killToOutput },
      detectToFirstOutputMs: { median: pct(detectToOutput, 50), worst: Math.max(...detectToOutput) },
      latency: st.latency,
      swapCount: st.swapCount,
    }, null, 2));
  } finally {
    await w.stop();
    await Promise.allSettled(orchs.map((o) => o.kill()));
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
