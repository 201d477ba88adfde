// Live payments never block media: the gateway-added ingest latency of a live-video-to-video
// stream (an input byte read by Wharf -> written to the orchestrator's trickle channel) on a Wharf
// that pays its orchestrators every interval through the remote signer, against a Wharf whose
// orchestrators are free, both streams running at the same time on the same machine.
//   node --import tsx bench/live-payments.ts [--seconds 40] [--interval 1]
// Real processes: two Wharfs, two development orchestrators each (the paying pair with
// --require-payment, verifying every ticket), the development signer, two RTMP publishers.
import { parseArgs } from "node:util";
import { pushTestPattern } from "../test/support/publisher.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../test/support/orchestrator.ts";
import { spawnListening } from "../test/support/listening-process.ts";
import { startWharf, type WharfProcess } from "../test/support/wharf.ts";
import { sleep, waitFor } from "../test/support/wait.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "40" }, interval: { type: "string", default: "1" } } });
const SECONDS = Number(values.seconds);
const INTERVAL = values.interval!;

interface Run {
  name: string;
  w: WharfProcess;
  orchs: OrchestratorProcess[];
}

async function credited(o: OrchestratorProcess): Promise<bigint> {
  const v = (await (await fetch(`${o.url}/wharf/payments`)).json()) as { totals: { credited: string } };
  return BigInt(v.totals.credited);
}

async function main(): Promise<void> {
  const base = ["--no-ai", "--live-events-ms", "1000"];
  const paying = [...base, "--require-payment", "--ai-price", "live-video-to-video=100", "--live-payment-interval", `${INTERVAL}s`];
  const [signer, ...orchs] = await Promise.all([
    spawnListening("signer/main.ts", ["--port", "0", "--http", "--data-dir", `/tmp/wharf-bench-signer-${process.pid}`]),
    ...[base, base, paying, paying].map((args) => startOrchestratorProcess(args, { http: true })),
  ]);
  const runs: Run[] = [];
  try {
    const common = { WHARF_SEGMENT_DURATION: "1", WHARF_LIVE_PAYMENT_INTERVAL: INTERVAL };
    runs.push({ name: "free", orchs: orchs.slice(0, 2), w: await startWharf({ env: { ...common, WHARF_ORCH_ADDR: orchs.slice(0, 2).map((o) => o.url).join(",") } }) });
    runs.push({
      name: "paying",
      orchs: orchs.slice(2),
      w: await startWharf({ env: { ...common, WHARF_ORCH_ADDR: orchs.slice(2).map((o) => o.url).join(","), WHARF_REMOTE_SIGNER_URL: signer.url } }),
    });
    const streams = await Promise.all(runs.map(async (r) => {
      const s = (await r.w.api("POST", "/v1/streams", { name: `bench-${r.name}`, pipeline: "live-video-to-video", modelId: "noop" })).body;
      const pub = pushTestPattern(s.rtmpUrl, { size: "640x360" });
      return { r, s, pub };
    }));
    const status = async (r: Run, id: string) => (await r.w.api("GET", `/v1/streams/${id}/status`)).body.processor;
    for (const { r, s } of streams) await waitFor(`${r.name}: standby ready`, async () => (await status(r, s.id))?.standby?.state === "ready", 60_000, 200);
    // Warm-up, then measure only what arrives from now on: the samples before are dropped by
    // reading the count now and the percentiles over a fresh window below.
    await sleep(5000);
    const c0 = await Promise.all(runs[1]!.orchs.map(credited));
    const before = await Promise.all(streams.map(({ r, s }) => status(r, s.id)));
    await sleep(SECONDS * 1000);
    const after = await Promise.all(streams.map(({ r, s }) => status(r, s.id)));
    const c1 = await Promise.all(runs[1]!.orchs.map(credited));
    for (const { pub } of streams) await pub.stop(500);
    const rows = streams.map(({ r }, i) => ({
      wharf: r.name,
      ingestMs: after[i].latency.ingestMs,
      outputMs: after[i].latency.outputMs,
      samplesInWindow: after[i].latency.ingestMs.samples - before[i].latency.ingestMs.samples,
      swaps: after[i].swapCount - before[i].swapCount,
      outputFps: after[i].output.fps,
    }));
    console.log(JSON.stringify({
      seconds: SECONDS,
      paymentIntervalS: Number(INTERVAL),
      creditedWeiDuringWindow: c1.map((c, i) => (c - c0[i]!).toString()),
      rows,
    }, null, 2));
    console.log("\n| Wharf | ingest p50 / p95 / max ms | output p50 / p95 ms | swaps | output fps |");
    console.log("|---|---|---|---|---|");
    for (const x of rows) console.log(`| ${x.wharf} | ${x.ingestMs.p50} / ${x.ingestMs.p95} / ${x.ingestMs.max} | ${x.outputMs.p50} / ${x.outputMs.p95} | ${x.swaps} | ${x.outputFps} |`);
  } finally {
    await Promise.allSettled(runs.map((r) => r.w.stop()));
    await Promise.allSettled(orchs.map((o) => o.kill()));
    signer.proc.kill("SIGKILL");
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
