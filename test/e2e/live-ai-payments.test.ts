// Live video-to-video paid as on the real network: the first lv2v payment rides on the start
// request, then a payment every livePaymentInterval (active and standby); when the signer dies
// the orchestrators close the sessions for insufficient balance and Wharf ends the stream with
// reason payment, instead of stalling.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { spawnListening } from "../support/listening-process.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";
import { createLiveStream, pushBars, waitForSegments } from "./live-ai.helpers.ts";

// 100 wei per pixel: 2.8 gwei per second of 720p30, so a ticket (8 gwei EV) lasts about 3 s.
const ORCH_ARGS = ["--require-payment", "--no-ai", "--live-events-ms", "1000", "--ai-price", "live-video-to-video=100", "--live-payment-interval", "1s"];

async function credited(o: OrchestratorProcess): Promise<bigint> {
  const v = (await (await fetch(`${o.url}/wharf/payments`)).json()) as { totals: { credited: string } };
  return BigInt(v.totals.credited);
}

describe("live-video-to-video with payments", { timeout: 150_000 }, () => {
  let a: OrchestratorProcess;
  let b: OrchestratorProcess;
  let signer: { url: string; proc: ChildProcess };
  let w: WharfProcess;

  before(async () => {
    [signer, a, b] = await Promise.all([
      // A short prepay (go-livepeer prepays 60 s) so running out of balance takes seconds.
      spawnListening("signer/main.ts", ["--port", "0", "--http", "--lv2v-prepay-seconds", "3", "--data-dir", `/tmp/wharf-e2e-signer-live-${process.pid}`]),
      startOrchestratorProcess(ORCH_ARGS, { http: true }),
      startOrchestratorProcess(ORCH_ARGS, { http: true }),
    ]);
    w = await startWharf({
      env: { WHARF_ORCH_ADDR: `${a.url},${b.url}`, WHARF_REMOTE_SIGNER_URL: signer.url, WHARF_SEGMENT_DURATION: "1", WHARF_LIVE_PAYMENT_INTERVAL: "1" },
    });
  });
  after(async () => {
    await w?.stop();
    await Promise.allSettled([a?.kill(), b?.kill()]);
    signer?.proc.kill("SIGKILL");
  });

  test("paid every interval on the active and the standby; the signer killed -> the stream ends with reason payment", async () => {
    const s = await createLiveStream(w, "noop");
    const pub = pushBars(s.rtmpUrl);
    try {
      await waitForSegments(s.hlsUrl, 3, 30_000);
      const st = await waitFor("standby ready", async () => {
        const x = (await w.api("GET", `/v1/streams/${s.id}`)).body;
        return x.processor?.standby?.state === "ready" ? x : undefined;
      }, 20_000, 250);
      assert.ok(st.processor.orchestrator.address);
      // Both sessions keep being paid: credited EV grows at both orchestrators.
      const [a0, b0] = [await credited(a), await credited(b)];
      assert.ok(a0 > 0n && b0 > 0n, `both sessions paid at start (${a0}, ${b0})`);
      await waitFor("payments continue on both sessions", async () => (await credited(a)) > a0 && (await credited(b)) > b0, 20_000, 500);
      const paid = (await w.api("GET", `/v1/streams/${s.id}`)).body;
      assert.equal(paid.state, "live");

      // The signer dies: no more tickets; the orchestrators close the sessions once the balance
      // is spent, and the stream ends with the reason, not a silent stall.
      signer.proc.kill("SIGKILL");
      const ended = await waitFor("stream ended", async () => {
        const x = (await w.api("GET", `/v1/streams/${s.id}`)).body;
        return x.state === "idle" && x.lastEnded ? x : undefined;
      }, 60_000, 500);
      assert.match(JSON.stringify(ended.lastEnded), /payment/, JSON.stringify(ended.lastEnded));
    } finally {
      pub.child.kill("SIGKILL");
    }
  });
});
