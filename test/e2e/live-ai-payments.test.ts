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

async function fault(signerUrl: string, body: { status?: number; count: number }): Promise<void> {
  const r = await fetch(`${signerUrl}/wharf/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(r.status, 200, await r.text());
}

async function faultsLeft(signerUrl: string): Promise<number> {
  const r = await fetch(`${signerUrl}/wharf/faults/remaining`);
  return ((await r.json()) as { remaining: number }).remaining;
}

describe("live-video-to-video with payments", { timeout: 150_000 }, () => {
  let a: OrchestratorProcess;
  let b: OrchestratorProcess;
  let signer: { url: string; proc: ChildProcess };
  let w: WharfProcess;

  before(async () => {
    [signer, a, b] = await Promise.all([
      // A short prepay (go-livepeer prepays 60 s) so running out of balance takes seconds.
      spawnListening("signer/main.ts", ["--port", "0", "--http", "--faults", "--lv2v-prepay-seconds", "3", "--data-dir", `/tmp/wharf-e2e-signer-live-${process.pid}`]),
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

      // 482 (the credit covers the cycle): cycles are skipped with the state kept, no session
      // fails, and once the signer sells again the kept state is accepted (a lost state would be
      // refused by the signer, which verifies it) and both sessions are paid again.
      const status = async () => {
        const p = (await w.api("GET", `/v1/streams/${s.id}/status`)).body.processor;
        assert.ok(p && typeof p.swapCount === "number", `a processor status: ${JSON.stringify(p)}`);
        return p;
      };
      const swaps0 = (await status()).swapCount as number;
      await fault(signer.url, { status: 482, count: 4 });
      await waitFor("the 482s consumed", async () => (await faultsLeft(signer.url)) === 0, 15_000, 250);
      const [a1, b1] = [await credited(a), await credited(b)];
      await waitFor("payments resume on both sessions with the kept state", async () => (await credited(a)) > a1 && (await credited(b)) > b1, 20_000, 500);
      const after482 = await status();
      assert.equal(after482.swapCount, swaps0, `no swap on 482: ${JSON.stringify(after482.swaps)}`);
      assert.equal((await w.api("GET", `/v1/streams/${s.id}`)).body.state, "live");

      // 481 (price above the ceiling) on one cycle: that session is given up — the active one is
      // swapped for the standby (reason payment), a standby one is replaced — and the stream lives on.
      const before481 = await status();
      await fault(signer.url, { status: 481, count: 1 });
      const after481 = await waitFor("the 481'd session replaced", async () => {
        const x = await status();
        const swapped = (x.swapCount as number) > (before481.swapCount as number);
        // A standby given up is replaced (or, with this orchestrator now excluded, left empty).
        const standbyReplaced = x.standby?.manifestId !== before481.standby?.manifestId;
        return swapped || standbyReplaced ? x : undefined;
      }, 20_000, 250);
      if (after481.swapCount > before481.swapCount) assert.equal(after481.swaps.at(-1).reason, "payment", JSON.stringify(after481.swaps.at(-1)));
      // The stream lives on, paid: the session serving it keeps receiving tickets.
      const serving = after481.orchestrator.address as string;
      const servingOrch = [a, b].find((o) => o.url.includes(new URL(after481.orchestrator.transcoder).host)) ?? a;
      const c481 = await credited(servingOrch);
      await waitFor(`payments continue to ${serving} after the 481`, async () => (await credited(servingOrch)) > c481, 20_000, 500);
      assert.equal((await w.api("GET", `/v1/streams/${s.id}`)).body.state, "live");

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
