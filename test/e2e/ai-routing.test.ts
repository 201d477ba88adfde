// Batch AI routing against real orchestrators: warm before cold, an orchestrator at
// capacity is skipped without penalty, one dying mid-request is replaced by another
// (request still succeeds), price caps (503 saying so), unknown models.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startOrchestrator, type RunningOrchestrator } from "../../orchestrator/orchestrator.ts";
import { createAiFeature, type AiFeature } from "../../orchestrator/ai/feature.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";

const T2I = "stabilityai/sdxl-turbo";

async function t2i(w: WharfProcess, body: Record<string, unknown> = {}) {
  const res = await fetch(`${w.http}/text-to-image`, {
    method: "POST",
    headers: { authorization: `Bearer ${w.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model_id: "", prompt: "route me", width: 64, height: 64, ...body }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

describe("batch AI routing: busy, failures, warm first", { timeout: 90_000 }, () => {
  let warm: RunningOrchestrator;
  let cold: RunningOrchestrator;
  let warmAi: AiFeature;
  let coldAi: AiFeature;
  let wharf: WharfProcess;

  before(async () => {
    warmAi = createAiFeature({ zeroCost: true });
    coldAi = createAiFeature({ zeroCost: true, coldModels: [T2I] });
    warm = await startOrchestrator({ port: 0, http: true, features: [warmAi] });
    cold = await startOrchestrator({ port: 0, http: true, features: [coldAi] });
    wharf = await startWharf({ env: { WHARF_ORCH_ADDR: `${cold.url},${warm.url}`, WHARF_AI_RETRY_BUDGET: "3" } });
  });
  after(async () => {
    await wharf?.stop();
    await warm?.stop();
    await cold?.stop();
  });

  test("warm orchestrators are tried before cold ones", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await t2i(wharf)).status, 200);
    assert.equal(warmAi.stats().requests["text-to-image"], 3);
    assert.equal(coldAi.stats().requests["text-to-image"] ?? 0, 0);
  });

  test("an orchestrator at capacity is skipped (503 -> next) and not penalised", async () => {
    warmAi.configure({ capacity: 0 });
    const r = await t2i(wharf);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(warmAi.stats().busy, 1, "the warm one answered 503 insufficient capacity");
    assert.equal(coldAi.stats().requests["text-to-image"], 1, "the cold one served it");
    // Not benched: as soon as it has room again, it is first choice again.
    warmAi.configure({ capacity: 4 });
    await sleep(1100); // the short busy back-off
    const before = warmAi.stats().requests["text-to-image"]!;
    assert.equal((await t2i(wharf)).status, 200);
    assert.equal(warmAi.stats().requests["text-to-image"], before + 1, "served by the orchestrator that was busy");
  });

  test("an orchestrator dying mid-request: the request still succeeds on another", async () => {
    warmAi.configure({ latencyMs: { "text-to-image": 3000 } });
    const coldBefore = coldAi.stats().requests["text-to-image"]!;
    const pending = t2i(wharf, { prompt: "survive this" });
    await waitFor("request in flight on the warm orchestrator", () => (warmAi.stats().inFlight["text-to-image"] ?? 0) > 0, 5000, 20);
    await warm.kill();
    const r = await pending;
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.images[0].url.startsWith(`${wharf.http}/v1/results/`));
    assert.equal(coldAi.stats().requests["text-to-image"], coldBefore + 1);
    // The dead one is penalised: the next request goes straight to the live one, quickly.
    const t0 = Date.now();
    assert.equal((await t2i(wharf)).status, 200);
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  });

  test("a client hanging up mid-request: the orchestrator call is cancelled, nothing is billed", async () => {
    warmAi.configure({ latencyMs: { "text-to-image": 3000 } });
    coldAi.configure({ latencyMs: { "text-to-image": 3000 } });
    const usage = async () => (await wharf.api<{ records: unknown[] }>("GET", "/v1/usage?limit=1000")).body.records.length;
    const billed = await usage();
    const abandoned = warmAi.stats().abandoned + coldAi.stats().abandoned;
    const t0 = Date.now();
    await assert.rejects(
      fetch(`${wharf.http}/text-to-image`, {
        method: "POST",
        headers: { authorization: `Bearer ${wharf.adminKey}`, "content-type": "application/json" },
        body: JSON.stringify({ prompt: "never mind", width: 64, height: 64 }),
        signal: AbortSignal.timeout(300),
      }),
    );
    await waitFor("the orchestrator sees its call cancelled", () => warmAi.stats().abandoned + coldAi.stats().abandoned === abandoned + 1, 2500, 20);
    assert.ok(Date.now() - t0 < 2500, "cancelled well before the orchestrator's 3 s");
    assert.equal(await usage(), billed, "no usage record for the abandoned request");
    warmAi.configure({ latencyMs: { "text-to-image": 0 } });
    coldAi.configure({ latencyMs: { "text-to-image": 0 } });
    assert.equal((await t2i(wharf)).status, 200, "Wharf keeps serving");
  });

  test("all orchestrators failing: 503 with Retry-After naming what happened", async () => {
    cold.configure({ failRate: 1 });
    const r = await t2i(wharf);
    assert.equal(r.status, 503);
    assert.ok(r.headers.get("retry-after"));
    assert.match(r.body.detail.msg, /no orchestrator could serve text-to-image/);
    assert.match(r.body.detail.msg, /injected failure|ECONNREFUSED|failed/);
  });
});

describe("batch AI results an orchestrator cannot serve after answering", { timeout: 60_000 }, () => {
  let a: RunningOrchestrator;
  let b: RunningOrchestrator;
  let aAi: AiFeature;
  let bAi: AiFeature;
  let wharf: WharfProcess;

  before(async () => {
    aAi = createAiFeature({ zeroCost: true });
    bAi = createAiFeature({ zeroCost: true });
    a = await startOrchestrator({ port: 0, http: true, features: [aAi] });
    b = await startOrchestrator({ port: 0, http: true, features: [bAi] });
    wharf = await startWharf({ env: { WHARF_ORCH_ADDR: `${a.url},${b.url}` } });
  });
  after(async () => {
    await wharf?.stop();
    await a?.stop();
    await b?.stop();
  });

  test("the URL answers 502, the request is refunded, the orchestrator is penalised", async () => {
    aAi.configure({ resultsUnavailable: true });
    bAi.configure({ resultsUnavailable: true });
    const r = await t2i(wharf, { prompt: "lost result" });
    assert.equal(r.status, 200, "the answer does not wait for the copy");
    const requestId = r.headers.get("x-request-id")!;
    const served = aAi.stats().requests["text-to-image"] === 1 ? { ai: aAi, other: bAi } : { ai: bAi, other: aAi };
    served.other.configure({ resultsUnavailable: false });
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
    assert.equal(served.other.stats().requests["text-to-image"], 1);
    const img = await fetch(ok.body.images[0].url);
    assert.equal(img.status, 200);
    assert.equal(img.headers.get("content-type"), "image/png");
  });
});

describe("batch AI routing: price caps and models", { timeout: 90_000 }, () => {
  let a: RunningOrchestrator;
  let b: RunningOrchestrator;
  let wharf: WharfProcess;

  before(async () => {
    a = await startOrchestrator({ port: 0, http: true, features: [createAiFeature({ zeroCost: true, prices: { "text-to-image": 50, llm: 5 } })] });
    b = await startOrchestrator({ port: 0, http: true, features: [createAiFeature({ zeroCost: true, prices: { "text-to-image": 80, llm: 20 } })] });
    const caps = { capabilities_prices: [{ pipeline: "text-to-image", model_id: "default", price_per_unit: 10, pixels_per_unit: 1, currency: "WEI" }] };
    wharf = await startWharf({
      env: { WHARF_ORCH_ADDR: `${a.url},${b.url}`, WHARF_MAX_PRICE_PER_CAPABILITY: JSON.stringify(caps), WHARF_MAX_PRICE_PER_UNIT: "10" },
    });
  });
  after(async () => {
    await wharf?.stop();
    await a?.stop();
    await b?.stop();
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
      assert.equal(rec.orchestratorCostWei, String(10 * 5));
    }
  });

  test("a model no orchestrator has: 503 saying so", async () => {
    const r = await t2i(wharf, { model_id: "nobody/has-this" });
    assert.equal(r.status, 503);
    assert.match(r.body.detail.msg, /no orchestrator has the model "nobody\/has-this"/);
  });
});
