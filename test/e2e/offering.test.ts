// GET /v1/offering against a real Wharf and orchestrator: public, cacheable, naming the
// configured gateway, the pipelines and models the orchestrator serves, prices and performance.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { startOrchestratorProcess } from "../support/orchestrator.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

test("the offering is public, cacheable for a minute, and says what this gateway serves and how it performed", { timeout: 120000 }, async () => {
  const orch = await startOrchestratorProcess(["--ai-zero-cost"], { http: true });
  cleanup.push(async () => orch.kill());
  const w: WharfProcess = await startWharf({
    env: { WHARF_ORCH_ADDR: orch.url, WHARF_OFFERING_NAME: "Acme Gateway", WHARF_OFFERING_REGIONS: "eu-west,us-east", WHARF_OFFERING_SLA: "99.9% monthly" },
  });
  cleanup.push(() => w.stop());
  const key = await w.api("POST", "/v1/keys", { name: "ai", scopes: ["ai"] });
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${w.http}/text-to-image`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.body.secret}`, "content-type": "application/json" },
      body: JSON.stringify({ model_id: "", prompt: "offering", width: 64, height: 64 }),
    });
    await res.arrayBuffer();
    assert.equal(res.status, 200);
  }
  const res = await waitFor("offering", async () => {
    const r = await fetch(`${w.http}/v1/offering`);
    return r.status === 200 ? r : undefined;
  });
  assert.match(res.headers.get("cache-control") ?? "", /public, max-age=60/);
  const body = (await res.json()) as { name: string; regions: string[]; sla: string; pipelines: Array<{ pipeline: string; models: Array<{ id: string }>; price: { currency: string }; performance: { requests: number; successRate: number; latencyMs: { p50: number; p95: number } } }> };
  assert.equal(body.name, "Acme Gateway");
  assert.deepEqual(body.regions, ["eu-west", "us-east"]);
  assert.equal(body.sla, "99.9% monthly");
  const t2i = body.pipelines.find((p) => p.pipeline === "text-to-image");
  assert.ok(t2i, JSON.stringify(body.pipelines.map((p) => p.pipeline)));
  assert.ok(t2i.models.length > 0);
  assert.equal(t2i.price.currency, "USD");
  assert.equal(t2i.performance.requests, 3);
  assert.equal(t2i.performance.successRate, 1);
  assert.ok(t2i.performance.latencyMs.p50 > 0 && t2i.performance.latencyMs.p95 >= t2i.performance.latencyMs.p50);
});
