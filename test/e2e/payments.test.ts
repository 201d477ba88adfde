// Paying orchestrators as on the real network: Wharf with the development remote signer and
// development orchestrators that require tickets (they verify every ticket's signature, nonce
// and expiry, credit its EV and debit the work). What Wharf records as paid must be what the
// orchestrators credited.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { pushTestPattern } from "../support/publisher.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { spawnListening } from "../support/listening-process.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";

const PRICES = ["--price-per-unit", "1", "--ai-prices", JSON.stringify({ "text-to-image": 2, llm: 50_000 })];
const T2I = { prompt: "a harbour at dawn", width: 256, height: 256 };

interface PaymentsView {
  required: boolean;
  totals: { credited: string; tickets: { received: number; accepted: number; rejected: Record<string, number> }; insufficientBalance: number };
}

async function credited(o: OrchestratorProcess): Promise<bigint> {
  const res = await fetch(`${o.url}/wharf/payments`);
  const v = (await res.json()) as PaymentsView;
  assert.equal(v.required, true);
  return BigInt(v.totals.credited);
}

async function paymentsView(o: OrchestratorProcess): Promise<PaymentsView> {
  return (await (await fetch(`${o.url}/wharf/payments`)).json()) as PaymentsView;
}

async function paidInUsage(w: WharfProcess, filter: (r: { kind: string; pipeline: string }) => boolean): Promise<bigint> {
  const usage = await w.api("GET", "/v1/usage?limit=100000");
  return (usage.body.records as Array<{ kind: string; pipeline: string; paidWei: string }>).filter(filter).reduce((s, r) => s + BigInt(r.paidWei), 0n);
}

/**
 * Equal up to rounding: a ticket's EV is a fraction of a wei above 8 gwei; Wharf rounds each
 * record's paid EV up, the orchestrator rounds its exact total. A wei per ticket at most.
 */
function assertSamePaid(wharf: bigint, orch: bigint, what: string): void {
  const tickets = orch / 8_000_000_000n + 1n;
  assert.ok(wharf >= orch && wharf - orch <= tickets, `${what}: Wharf recorded ${wharf} wei, the orchestrators credited ${orch}`);
}

async function startSigner(extra: string[] = []): Promise<{ url: string; proc: ChildProcess; fault(body: unknown): Promise<void> }> {
  const s = await spawnListening("signer/main.ts", ["--port", "0", "--http", "--faults", "--data-dir", `/tmp/wharf-e2e-signer-${process.pid}-${Date.now()}`, ...extra]);
  return {
    url: s.url,
    proc: s.proc,
    async fault(body) {
      const r = await fetch(`${s.url}/wharf/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      assert.equal(r.status, 200, await r.text());
    },
  };
}

describe("payments through a remote signer", { timeout: 240_000 }, () => {
  let a: OrchestratorProcess;
  let b: OrchestratorProcess;
  let signer: Awaited<ReturnType<typeof startSigner>>;
  let w: WharfProcess;

  before(async () => {
    [signer, a, b] = await Promise.all([
      startSigner(),
      startOrchestratorProcess(["--require-payment", "--no-live", ...PRICES], { http: true }),
      startOrchestratorProcess(["--require-payment", "--no-live", ...PRICES], { http: true }),
    ]);
    w = await startWharf({ env: { WHARF_ORCH_ADDR: `${a.url},${b.url}`, WHARF_REMOTE_SIGNER_URL: signer.url, WHARF_REMOTE_SIGNER_HEADERS: "x-signer-token:s3cret" } });
  });
  after(async () => {
    await w?.stop();
    await Promise.all([a?.kill(), b?.kill()]);
    signer?.proc.kill("SIGKILL");
  });

  test("batch AI: every answer is paid with tickets the orchestrators accept, and Wharf's recorded cost equals what they credited", async () => {
    for (let i = 0; i < 6; i++) {
      const r = await w.api("POST", "/text-to-image", T2I);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    // LLM, streamed.
    const res = await fetch(`${w.http}/llm`, {
      method: "POST",
      headers: { authorization: `Bearer ${w.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "meta-llama/Meta-Llama-3.1-8B-Instruct", messages: [{ role: "user", content: "hi" }], stream: true, max_tokens: 20 }),
    });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /data: \[DONE\]/);
    const orchCredited = (await credited(a)) + (await credited(b));
    const wharfPaid = await paidInUsage(w, (r) => r.kind === "batch");
    assert.ok(orchCredited > 0n, "tickets were credited");
    assertSamePaid(wharfPaid, orchCredited, "batch AI");
    for (const o of [a, b]) {
      const v = await paymentsView(o);
      assert.deepEqual(v.totals.tickets.rejected, {}, "no ticket was refused");
      assert.equal(v.totals.insufficientBalance, 0, "no work arrived unpaid");
    }
    const usage = await w.api("GET", "/v1/usage");
    assertSamePaid(BigInt(usage.body.total.paidWei), orchCredited, "GET /v1/usage total");
    assert.equal(typeof usage.body.total.margin, "number");
  });

  test("transcoding: each segment is paid; the stream's usage carries the EV the orchestrators credited for segments", async () => {
    const beforeA = await credited(a);
    const beforeB = await credited(b);
    const beforePaid = await paidInUsage(w, (r) => r.kind === "stream");
    const s = (await w.api("POST", "/v1/streams", { name: "paid ladder", pipeline: "transcode", transcodingOptions: "P144p30fps16x9" })).body;
    const pub = pushTestPattern(s.rtmpUrl, { seconds: 8, size: "320x180" });
    await pub.exited;
    const mediaUrl = s.hlsUrl.replace("index.m3u8", "P144p30fps16x9/index.m3u8");
    const playlist = await waitFor("complete rendition", async () => {
      const r = await fetch(mediaUrl);
      const t = r.ok ? await r.text() : "";
      return t.includes("#EXT-X-ENDLIST") ? t : undefined;
    }, 30_000, 250);
    assert.ok(!playlist.includes("#EXT-X-GAP"), `segments were refused:\n${playlist}`);
    const gained = (await credited(a)) - beforeA + (await credited(b)) - beforeB;
    assert.ok(gained > 0n, "segments were paid");
    const paid = await waitFor("stream usage recorded", async () => {
      const p = (await paidInUsage(w, (r) => r.kind === "stream")) - beforePaid;
      return p >= gained ? p : undefined;
    }, 10_000, 200).catch(async () => (await paidInUsage(w, (r) => r.kind === "stream")) - beforePaid);
    assertSamePaid(paid, gained, "transcoding");
  });

  test("480 from the signer: the orchestrator info is refreshed and the payment retried; 481: another orchestrator serves", async () => {
    // A model neither orchestrator was paid for yet: its first request must buy tickets.
    await signer.fault({ status: 480, count: 2 });
    const r1 = await w.api("POST", "/text-to-image", { ...T2I, model_id: "ByteDance/SDXL-Lightning" });
    assert.equal(r1.status, 200, JSON.stringify(r1.body));
    await signer.fault({ status: 481, count: 1 });
    const r3 = await w.api("POST", "/text-to-image", { ...T2I, model_id: "SG161222/RealVisXL_V4.0_Lightning" });
    assert.equal(r3.status, 200, JSON.stringify(r3.body));
    await signer.fault({ count: 0 });
  });

  test("the signer down: no unpaid work is sent, the client gets a clear 503, /readyz and /v1/orchestrators say so", async () => {
    await signer.fault({ status: 500, count: 1000 });
    // A model never paid for: a refill is needed and the signer fails it.
    const r = await w.api("POST", "/text-to-image", { ...T2I, model_id: "stabilityai/stable-diffusion-3-medium-diffusers" });
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.match(JSON.stringify(r.body), /payment unavailable/);
    const ready = await fetch(`${w.http}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { checks: Record<string, boolean> }).checks.signer, false);
    const orchs = await w.api("GET", "/v1/orchestrators");
    assert.equal(orchs.body.signer.state, "down");
    assert.ok(!JSON.stringify(orchs.body).includes("s3cret"), "signer headers are never shown");
    await signer.fault({ count: 0 });
    const again = await w.api("POST", "/text-to-image", { ...T2I, model_id: "stabilityai/stable-diffusion-3-medium-diffusers" });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.ok(!w.output().includes("s3cret"), "signer headers are never logged");
  });
});

describe("a paying orchestrator without a signer", { timeout: 60_000 }, () => {
  test("is not sent unpaid work: the client sees why", async () => {
    const o = await startOrchestratorProcess(["--require-payment", "--no-live", ...PRICES], { http: true });
    const w = await startWharf({ env: { WHARF_ORCH_ADDR: o.url } });
    try {
      const r = await w.api("POST", "/text-to-image", T2I);
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.match(JSON.stringify(r.body), /set remoteSignerUrl/);
      assert.equal((await paymentsView(o)).totals.insufficientBalance, 0, "no unpaid request reached it");
    } finally {
      await w.stop();
      await o.kill();
    }
  });
});

describe("discovery through the signer", { timeout: 60_000 }, () => {
  test("with only remoteSignerUrl, Wharf finds the orchestrators the signer lists and pays them", async () => {
    const o = await startOrchestratorProcess(["--require-payment", "--no-live", ...PRICES], { http: true });
    const s = await startSigner(["--orchestrators", o.url, "--discovery-interval", "1"]);
    const w = await startWharf({ env: { WHARF_REMOTE_SIGNER_URL: s.url } });
    try {
      const listed = await waitFor("orchestrator discovered", async () => {
        const r = await w.api("GET", "/v1/orchestrators");
        return r.body.orchestrators.some((x: { reachable: boolean }) => x.reachable) ? r.body.orchestrators : undefined;
      }, 20_000, 250);
      assert.equal(listed.length, 1);
      const r = await w.api("POST", "/text-to-image", T2I);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok((await credited(o)) > 0n);
    } finally {
      await w.stop();
      await o.kill();
      s.proc.kill("SIGKILL");
    }
  });
});
