// The development orchestrator's runtime control (--control: POST /wharf/configure),
// the AI feature's counters (GET /wharf/ai/status) and the AI flags tests start processes with.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Capability } from "../protocol/capabilities.ts";
import { closeGrpcClients, getOrchestrator } from "../protocol/grpc-client.ts";
import { createAiFeature, type AiFeature } from "./ai/feature.ts";
import { parseCli, UsageError } from "./main.ts";
import { startOrchestrator, type RunningOrchestrator } from "./orchestrator.ts";

const T2I = "stabilityai/sdxl-turbo";

describe("POST /wharf/configure and GET /wharf/ai/status", () => {
  let orch: RunningOrchestrator;
  let plain: RunningOrchestrator;
  let ai: AiFeature;
  const post = (o: RunningOrchestrator, body: unknown) =>
    fetch(`${o.url}/wharf/configure`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

  before(async () => {
    ai = createAiFeature({ zeroCost: true });
    [orch, plain] = await Promise.all([
      startOrchestrator({ port: 0, http: true, control: true, features: [ai] }),
      startOrchestrator({ port: 0, http: true, features: [createAiFeature()] }),
    ]);
  });
  after(async () => {
    await orch?.stop(0);
    await plain?.stop(0);
    await closeGrpcClients();
  });

  test("orchestrator and AI knobs change at runtime", async () => {
    const res = await post(orch, { capacity: 3, latencyMs: 5, failRate: 0.25, ai: { capacity: { "text-to-image": 0 }, latencyMs: { llm: 40 }, llmTokenDelayMs: 7, resultsUnavailable: true } });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { capacity: 3, latencyMs: 5, failRate: 0.25 });
    assert.deepEqual(orch.knobs, { latencyMs: 5, failRate: 0.25 });
    const info = await getOrchestrator(orch.url);
    assert.equal(info.capabilities?.capacities?.[Capability.H264], 3);
    assert.equal(info.capabilities?.capacities?.[Capability.TextToImage], 0, "the AI capacity is advertised");
    const result = await fetch(`${orch.url}/ai/results/x/y.png`);
    assert.equal(result.status, 500, "resultsUnavailable");
    assert.equal((await post(orch, { failRate: 0, latencyMs: 0, ai: { capacity: 4, resultsUnavailable: false } })).status, 200);
    assert.equal((await getOrchestrator(orch.url)).capabilities?.capacities?.[Capability.TextToImage], 4);
    assert.equal((await fetch(`${orch.url}/ai/results/x/y.png`)).status, 404);
  });

  test("a bad body is refused whole (400 naming the field), nothing applied", async () => {
    const before = { ...orch.knobs };
    const cases: Array<[unknown, RegExp]> = [
      [[1], /JSON object/],
      [{ failRate: 2 }, /failRate/],
      [{ capacity: 1.5 }, /capacity/],
      [{ latencyMs: -1 }, /latencyMs/],
      [{ bogus: 1 }, /unknown field "bogus".*ai/],
      [{ latencyMs: 9, ai: { latencyMs: { nope: 1 } } }, /ai: latencyMs: unknown pipeline "nope"/],
      [{ failRate: 1, ai: { capacity: -1 } }, /ai: capacity/],
      [{ ai: { llmTokenDelayMs: "slow" } }, /llmTokenDelayMs/],
      [{ ai: { zeroCost: "yes" } }, /zeroCost/],
      [{ ai: { warp: true } }, /unknown field "warp"/],
      [{ ai: null }, /ai: expected a JSON object/],
    ];
    for (const [body, re] of cases) {
      const res = await post(orch, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(((await res.json()) as { message: string }).message, re);
    }
    assert.deepEqual(orch.knobs, before);
  });

  test("the AI counters; no control route without the option", async () => {
    const res = await fetch(`${orch.url}/wharf/ai/status`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), ai.stats());
    assert.equal((await post(plain, { failRate: 1 })).status, 404);
    assert.equal(plain.knobs.failRate, 0);
  });
});

test("CLI: --control, --ai-cold-models, --ai-prices", async () => {
  const o = parseCli(["--control", "--ai-cold-models", `${T2I}, other`, "--ai-prices", JSON.stringify({ "text-to-image": 50, llm: { pricePerUnit: 5, pixelsPerUnit: 2 } })])!;
  assert.equal(o.control, true);
  assert.equal(parseCli([])!.control, false);
  const ai = o.features!.find((f) => f.name === "ai")!;
  const t2i = ai.capabilities().find((c) => c.capability === Capability.TextToImage)!;
  assert.equal(t2i.models![T2I]!.warm, false);
  assert.deepEqual(t2i.models![T2I]!.price, { pricePerUnit: 50, pixelsPerUnit: 1 });
  const llm = ai.capabilities().find((c) => c.capability === Capability.LLM)!;
  assert.ok(Object.values(llm.models!).every((m) => m.warm && m.price?.pricePerUnit === 5 && m.price.pixelsPerUnit === 2));
  for (const [args, re] of [
    [["--ai-prices", "{x"], /--ai-prices: not JSON/],
    [["--ai-prices", "[1]"], /--ai-prices: not a JSON object/],
    [["--ai-prices", '{"foo":1}'], /--ai-prices: unknown pipeline "foo"/],
    [["--ai-prices", '{"llm":-1}'], /--ai-prices: invalid price for llm/],
    [["--ai-prices", '{"llm":{"pricePerUnit":1,"pixelsPerUnit":0}}'], /--ai-prices: invalid price for llm/],
    [["--ai-cold-models", "a,,b"], /--ai-cold-models/],
  ] as Array<[string[], RegExp]>) {
    assert.throws(() => parseCli(args), (err: unknown) => err instanceof UsageError && re.test((err as Error).message), args.join(" "));
  }
});
