// Batch AI routing against real orchestrators: warm before cold, an orchestrator at
// capacity is skipped without penalty, one dying mid-request is replaced by another
// (request still succeeds), price caps (503 saying so), unknown models.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";

const T2I = "stabilityai/sdxl-turbo";

/** A development orchestrator process with the AI feature, its knobs changeable (--control). */
const aiOrchestrator = (...args: string[]) => startOrchestratorProcess(["--control", "--no-live", "--ai-zero-cost", ...args], { http: true });

async function t2i(w: WharfProcess, body: Record<string, unknown> = {}) {
  const res = await fetch(`${w.http}/text-to-image`, {
    method: "POST",
    headers: { authorization: `Bearer ${w.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model_id: "", prompt: "route me", width: 64, height: 64, ...body }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

describe("batch AI routing: busy, failures, warm first", { timeout: 90_000 }, () => {
  let warm: OrchestratorProcess;
  let cold: OrchestratorProcess;
  let wharf: WharfProcess;

  before(async () => {
    [warm, cold] = await Promise.all([aiOrchestrator(), aiOrchestrator("--ai-cold-models", T2I)]);
    wharf = await startWharf({ env: { WHARF_ORCH_ADDR: `${cold.url},${warm.url}`, WHARF_AI_RETRY_BUDGET: "3" } });
  });
  after(async () => {
    await wharf?.stop();
    await warm?.kill("SIGTERM");
    await cold?.kill("SIGTERM");
  });

  test("warm orchestrators are tried before cold ones", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await t2i(wharf)).status, 200);
    assert.equal((await warm.aiStats()).requests["text-to-image"], 3);
    assert.equal((await cold.aiStats()).requests["text-to-image"] ?? 0, 0);
  });

  test("an orchestrator at capacity is skipped (503 -> next) and not penalised", async () => {
    await warm.configure({ ai: { capacity: 0 } });
    const r = await t2i(wharf);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await warm.aiStats()).busy, 1, "the warm one answered 503 insufficient capacity");
    assert.equal((await cold.aiStats()).requests["text-to-image"], 1, "the cold one served it");
    // Not benched: as soon as it has room again, it is first choice again.
    await warm.configure({ ai: { capacity: 4 } });
    await sleep(1100); // the short busy back-off
    const before = (await warm.aiStats()).requests["text-to-image"]!;
    assert.equal((await t2i(wharf)).status, 200);
    assert.equal((await warm.aiStats()).requests["text-to-image"], before + 1, "served by the orchestrator that was busy");
  });

  test("an orchestrator dying mid-request: the request still succeeds on another", async () => {
    await warm.configure({ ai: { latencyMs: { "text-to-image": 3000 } } });
    const coldBefore = (await cold.aiStats()).requests["text-to-image"]!;
    const pending = t2i(wharf, { prompt: "survive this" });
    await waitFor("request in flight on the warm orchestrator", async () => ((await warm.aiStats()).inFlight["text-to-image"] ?? 0) > 0, 5000, 20);
    await warm.kill("SIGKILL"); // the process dies: its connections are reset
    const r = await pending;
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.images[0].url.startsWith(`${wharf.http}/v1/results/`));
    assert.equal((await cold.aiStats()).requests["text-to-image"], coldBefore + 1);
    // The dead one is penalised: the next request goes straight to the live one, quickly.
    const t0 = Date.now();
    assert.equal((await t2i(wharf)).status, 200);
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  });

  test("a client hanging up mid-request: the orchestrator call is cancelled, nothing is billed", async () => {
    // The orchestrators still running (the previous test killed the warm one).
    const running = [warm, cold].filter((o) => o.proc.exitCode === null && o.proc.signalCode === null);
    const slow = (ms: number) => Promise.all(running.map((o) => o.configure({ ai: { latencyMs: { "text-to-image": ms } } })));
    const abandonedNow = async () => (await Promise.all(running.map((o) => o.aiStats()))).reduce((n, s) => n + s.abandoned, 0);
    await slow(3000);
    const usage = async () => (await wharf.api<{ records: unknown[] }>("GET", "/v1/usage?limit=1000")).body.records.length;
    const billed = await usage();
    const abandoned = await abandonedNow();
    const t0 = Date.now();
    await assert.rejects(
      fetch(`${wharf.http}/text-to-image`, {
        method: "POST",
        headers: { authorization: `Bearer ${wharf.adminKey}`, "content-type": "application/json" },
        body: JSON.stringify({ prompt: "never mind", width: 64, height: 64 }),
        signal: AbortSignal.timeout(300),
      }),
    );
    await waitFor("the orchestrator sees its call cancelled", async () => (await abandonedNow()) === abandoned + 1, 2500, 20);
    assert.ok(Date.now() - t0 < 2500, "cancelled well before the orchestrator's 3 s");
    assert.equal(await usage(), billed, "no usage record for the abandoned request");
    await slow(0);
    assert.equal((await t2i(wharf)).status, 200, "Wharf keeps serving");
  });

  test("all orchestrators failing: 503 with Retry-After naming what happened", async () => {
    await cold.configure({ failRate: 1 });
    const r = await t2i(wharf);
    assert.equal(r.status, 503);
    assert.ok(r.headers.get("retry-after"));
    assert.match(r.body.detail.msg, /no orchestrator could serve text-to-image/);
    assert.match(r.body.detail.msg, /injected failure|ECONNREFUSED|failed/);
  });
});

describe("batch AI results an orchestrator cannot serve after answering", { timeout: 60_000 }, () => {
  let a: OrchestratorProcess;
  let b: OrchestratorProcess;
  let wharf: WharfProcess;

  before(async () => {
    [a, b] = await Promise.all([aiOrchestrator(), aiOrchestrator()]);
    wharf = await startWharf({ env: { WHARF_ORCH_ADDR: `${a.url},${b.url}` } });
  });
  after(async () => {
    await wharf?.stop();
    await a?.kill("SIGTERM");
    await b?.kill("SIGTERM");
  });

  test("the URL answers 502, the request is refunded, the orchestrator is penalised", async () => {
    await a.configure({ ai: { resultsUnavailable: true } });
    await b.configure({ ai: { resultsUnavailable: true } });
    const r = await t2i(wharf, { prompt: "lost result" });
    assert.equal(r.status, 200, "the answer does not wait for the copy");
    const requestId = r.headers.get("x-request-id")!;
    const served = (await a.aiStats()).requests["text-to-image"] === 1 ? { orch: a, other: b } : { orch: b, other: a };
    await served.other.configure({ ai: { resultsUnavailable: false } });
    const res = await fetch(r.body.images[0].url);
    assert.equal(res.status, 502);
    assert.match(((await res.json()) as { message: string }).message, /could not be copied from the orchestrator.*answered 500.*not billed/);
    await waitFor("refund recorded", async () => {
      const usage = await wharf.api("GET", "/v1/usage");
      return usage.body.records.some((x: { requestId: string }) => x.requestId === `${requestId}:refund`);
    }, 5000, 50);
    const recs = (await wharf.api("GET", "/v1/usage")).body.records.filter((x: { requestId: string }) => x.requestId?.startsWith(requestId));
    assert.equal(recs.length, 2, JSON.stringify(recs));
    assert.deepEqual(recs.map((x: { units: number }) => x.units).sort((x: number, y: number) => x - y), [-64 * 64, 64 * 64], "billed in pixels, then refunded");
    assert.equal(recs[0].chargeMicros + recs[1].chargeMicros, 0, "the charge nets to zero");
    const audit = await wharf.api("GET", "/v1/audit?action=usage.refund");
    assert.ok(audit.body.entries.some((e: { details: { requestId: string } }) => e.details.requestId === requestId), JSON.stringify(audit.body));
    // Penalised: the next request goes to the other orchestrator, whose result is copied.
    const ok = await t2i(wharf);
    assert.equal(ok.status, 200);
    assert.equal((await served.other.aiStats()).requests["text-to-image"], 1);
    const img = await fetch(ok.body.images[0].url);
    assert.equal(img.status, 200);
    assert.equal(img.headers.get("content-type"), "image/png");
  });
});

describe("batch AI routing: price caps and models", { timeout: 90_000 }, () => {
  let a: OrchestratorProcess;
  let b: OrchestratorProcess;
  let wharf: WharfProcess;

  before(async () => {
    [a, b] = await Promise.all([
      aiOrchestrator("--ai-prices", JSON.stringify({ "text-to-image": 50, llm: 5 })),
      aiOrchestrator("--ai-prices", JSON.stringify({ "text-to-image": 80, llm: 20 })),
    ]);
    const caps = { capabilities_prices: [{ pipeline: "text-to-image", model_id: "default", price_per_unit: 10, pixels_per_unit: 1, currency: "WEI" }] };
    wharf = await startWharf({
      env: { WHARF_ORCH_ADDR: `${a.url},${b.url}`, WHARF_MAX_PRICE_PER_CAPABILITY: JSON.stringify(caps), WHARF_MAX_PRICE_PER_UNIT: "10" },
    });
  });
  after(async () => {
    await wharf?.stop();
    await a?.kill("SIGTERM");
    await b?.kill("SIGTERM");
  });

  test("all orchestrators over the price cap: 503 saying so, nothing called", async () => {
    const r = await t2i(wharf);
    assert.equal(r.status, 503);
    assert.ok(r.headers.get("retry-after"));
    assert.match(r.body.detail.msg, /over the price cap of 10 wei per 1 unit/);
    assert.match(r.body.detail.msg, /cheapest asks 50 wei/);
  });

  test("the global cap applies where no per-capability cap is given: only the cheap orchestrator serves llm", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${wharf.http}/llm`, {
        method: "POST",
        headers: { authorization: `Bearer ${wharf.adminKey}`, "content-type": "application/json" },
        body: JSON.stringify({ messages: [{ role: "user", content: "cheap please" }], max_tokens: 10 }),
      });
      assert.equal(res.status, 200);
    }
    const usage = await wharf.api("GET", "/v1/usage");
    const llm = usage.body.records.filter((x: { pipeline: string }) => x.pipeline === "llm");
    assert.equal(llm.length, 3);
    for (const rec of llm) {
      assert.equal(rec.orchestrator, a.url);
      // Billed by the tokens the answer used (at most max_tokens), at a's price of 5 wei a token.
      assert.ok(rec.units > 0 && rec.units <= 10 + 64, `units ${rec.units}`);
      assert.equal(rec.orchestratorCostWei, String(rec.units * 5));
    }
  });

  test("a model no orchestrator has: 503 saying so", async () => {
    const r = await t2i(wharf, { model_id: "nobody/has-this" });
    assert.equal(r.status, 503);
    assert.match(r.body.detail.msg, /no orchestrator has the model "nobody\/has-this"/);
  });
});

describe("batch AI answers held in memory together (aiAnswerMemoryMb)", { timeout: 90_000 }, () => {
  let orch: OrchestratorProcess;
  let wharf: WharfProcess;
  let noise: Buffer;

  before(async () => {
    // Inline results (data URIs): the orchestrator's JSON answer carries the images.
    orch = await startOrchestratorProcess(["--no-live", "--ai-data-uris"], { http: true });
    wharf = await startWharf({ env: { WHARF_ORCH_ADDR: orch.url, WHARF_AI_ANSWER_MEMORY_MB: "1" } });
    // A 480x480 PNG of noise (~630 KB: it does not compress); image-to-image keeps the noise.
    const png = spawnSync("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=480x480,noise=alls=100:allf=t,format=rgb24", "-frames:v", "1", "-c:v", "png", "-f", "image2", "pipe:1"], { maxBuffer: 16 << 20 });
    noise = png.stdout;
  });
  after(async () => {
    await wharf?.stop();
    await orch?.kill("SIGTERM");
  });

  const i2i = async (images: number) => {
    const form = new FormData();
    form.set("prompt", "noise");
    form.set("model_id", "timbrooks/instruct-pix2pix");
    form.set("num_images_per_prompt", String(images));
    form.set("image", new Blob([new Uint8Array(noise)], { type: "image/png" }), "noise.png");
    const res = await fetch(`${wharf.http}/image-to-image`, { method: "POST", headers: { authorization: `Bearer ${wharf.adminKey}` }, body: form });
    return { status: res.status, headers: res.headers, body: (await res.json()) as any };
  };

  test("an answer past the gateway's bound is refused (503 naming it) and not held; smaller ones pass", async () => {
    assert.ok(noise.length > 400_000, `the noise image is ${noise.length} bytes`);
    const one = await i2i(1); // ~850 KB of base64 in its answer: within the bound
    assert.equal(one.status, 200, JSON.stringify(one.body).slice(0, 300));
    const four = await i2i(4); // ~3.4 MB: no answer may be larger than the budget for all of them
    assert.equal(four.status, 503, JSON.stringify(four.body).slice(0, 300));
    assert.match(four.body.detail.msg, /exceeds 1048576/);
    const health = await fetch(`${wharf.http}/healthz`);
    assert.equal(health.status, 200);
  });
});
