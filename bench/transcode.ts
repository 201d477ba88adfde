// Transcoding through orchestrators on this host:
//  1. gateway-added latency per segment: source segment complete -> renditions published,
//     minus the orchestrator's own transcode time (its early 200 -> its TranscodeResult), p50/p95;
//  2. concurrent transcoded streams: N RTMP pushes (640x360, 1 s GOP, ladder P144p+P240p),
//     counting skipped segments (gaps) and Wharf's own CPU.
//
//   node --import tsx bench/transcode.ts [--streams 1,2,4,6] [--seconds 20] [--orchestrators 2]
import { parseArgs } from "node:util";
import { pushTestPattern } from "../test/support/publisher.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../test/support/orchestrator.ts";
import { startWharf } from "../test/support/wharf.ts";
import { sleep, waitFor } from "../test/support/wait.ts";
import { cpuSeconds } from "./support/proc.ts";

const { values } = parseArgs({
  options: {
    streams: { type: "string", default: "1,2,4,6" },
    seconds: { type: "string", default: "20" },
    orchestrators: { type: "string", default: "2" },
  },
});
const LEVELS = values.streams!.split(",").map(Number);
const SECONDS = Number(values.seconds);


async function main(): Promise<void> {
  const orchs: OrchestratorProcess[] = [];
  for (let i = 0; i < Number(values.orchestrators); i++) orchs.push(await startOrchestratorProcess(["--capacity", "50", "--x264-preset", "ultrafast"]));
  const w = await startWharf({ env: { WHARF_ORCH_ADDR: orchs.map((o) => o.url).join(","), WHARF_LOG_LEVEL: "error" } });
  try {
    console.log("| streams | segments transcoded | skipped (gaps) | gateway overhead p50 ms | p95 ms | Wharf CPU % of one core |");
    console.log("|---|---|---|---|---|---|");
    for (const n of LEVELS) {
      const streams = await Promise.all(
        Array.from({ length: n }, async (_, i) => (await w.api("POST", "/v1/streams", { name: `bench-${n}-${i}`, pipeline: "transcode", transcodingOptions: "P144p30fps16x9,P240p30fps16x9" })).body),
      );
      const pubs = streams.map((s) => pushTestPattern(s.rtmpUrl, { size: "640x360" }));
      await waitFor("all live", async () => {
        const views = await Promise.all(streams.map((s) => w.api("GET", `/v1/streams/${s.id}`)));
        return views.every((v) => v.body.state === "live");
      }, 20000);
      await sleep(3000); // let the pipelines fill
      const cpu0 = cpuSeconds(w.proc.pid!);
      const t0 = Date.now();
      await sleep(SECONDS * 1000);
      const cpu = ((cpuSeconds(w.proc.pid!) - cpu0) / ((Date.now() - t0) / 1000)) * 100;
      const views = await Promise.all(streams.map((s) => w.api("GET", `/v1/streams/${s.id}`)));
      let done = 0;
      let skipped = 0;
      const p50s: number[] = [];
      const p95s: number[] = [];
      for (const v of views) {
        const st = v.body.processor ?? {};
        done += st.segmentsTranscoded ?? 0;
        skipped += st.segmentsSkipped ?? 0;
        if (st.gatewayOverheadMs?.p50 != null) p50s.push(st.gatewayOverheadMs.p50);
        if (st.gatewayOverheadMs?.p95 != null) p95s.push(st.gatewayOverheadMs.p95);
      }
      const med = (a: number[]) => (a.length ? a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!.toFixed(0) : "-");
      console.log(`| ${n} | ${done} | ${skipped} | ${med(p50s)} | ${p95s.length ? Math.max(...p95s).toFixed(0) : "-"} | ${cpu.toFixed(0)} |`);
      await Promise.all(pubs.map((p) => p.stop()));
      for (const s of streams) await w.api("DELETE", `/v1/streams/${s.id}`);
      await sleep(2000);
    }
  } finally {
    await w.stop();
    for (const o of orchs) await o.kill("SIGTERM");
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
