// The offering from orchestrator snapshots, the price book and measured performance.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Capability } from "../../protocol/capabilities.ts";
import { PriceBook } from "../accounts/pricing.ts";
import type { OrchestratorSnapshot } from "../orchestrators/registry.ts";
import { buildOffering } from "./offering.ts";
import { PerformanceWindow } from "./performance.ts";

const orch = (address: string, over: Partial<OrchestratorSnapshot>): OrchestratorSnapshot => ({
  address, source: "static", discoveryScore: 1, region: null, reachable: true, lastError: null, lastRefreshAt: null, nextRefreshAt: "", transcoder: null,
  version: null, price: null, capabilities: [], capabilitiesPrices: [], tokenExpiresAt: null, latencyMs: null, reliability: 1, successes: 0, failures: 0,
  busy: 0, suspendedUntil: null, penaltyLevel: 0, ...over,
});

test("pipelines and models come from reachable, unsuspended orchestrators, priced from the cheapest", () => {
  const t2i = (models: Record<string, boolean>) => ({
    id: Capability.TextToImage, name: "TextToImage", capacity: 1,
    models: Object.fromEntries(Object.entries(models).map(([m, warm]) => [m, { warm, capacity: 1, capacityInUse: 0 }])),
  });
  const out = buildOffering({
    config: { offeringName: "Acme", offeringRegions: "eu-west, us-east", offeringSla: "99.9%" },
    orchestrators: [
      orch("a", { capabilities: [t2i({ "sd-turbo": true })], capabilitiesPrices: [{ capability: Capability.TextToImage, modelId: "sd-turbo", pricePerUnit: 4000, pixelsPerUnit: 1 }] }),
      orch("b", { capabilities: [t2i({ "sd-turbo": false, flux: false }), { id: Capability.H264, name: "H264", capacity: null, models: {} }], capabilitiesPrices: [{ capability: Capability.TextToImage, modelId: "sd-turbo", pricePerUnit: 2000, pixelsPerUnit: 1 }], price: { pricePerUnit: 1000, pixelsPerUnit: 1 } }),
      orch("down", { reachable: false, capabilities: [t2i({ hidden: true })] }),
      orch("suspended", { suspendedUntil: "2099-01-01T00:00:00Z", capabilities: [t2i({ hidden2: true })] }),
    ],
    priceBook: new PriceBook({ currency: "USD", ethPrice: 1_000_000_000, default: { mode: "margin", margin: 0.5 } }),
    performance: { "text-to-image": { requests: 4, successRate: 0.75, latencyMs: { p50: 100, p95: 200 } } },
    now: 0,
  }) as { name: string; regions: string[]; sla: string; pipelines: Array<{ pipeline: string; models: Array<{ id: string; warm: boolean; orchestrators: number }>; price: Record<string, unknown>; performance: unknown }> };
  assert.equal(out.name, "Acme");
  assert.deepEqual(out.regions, ["eu-west", "us-east"]);
  assert.deepEqual(out.pipelines.map((p) => p.pipeline), ["text-to-image", "transcode"]);
  const ti = out.pipelines[0]!;
  assert.deepEqual(ti.models, [{ id: "flux", warm: false, orchestrators: 1 }, { id: "sd-turbo", warm: true, orchestrators: 2 }]);
  // 2000 wei per unit x 1e6 units = 2e9 wei = 2e-9 ETH x 1e9 USD/ETH = 2 USD, +50 % = 3 USD.
  assert.deepEqual(ti.price, { currency: "USD", mode: "margin", margin: 0.5, fromPerMillionUnits: 3 });
  assert.deepEqual(ti.performance, { requests: 4, successRate: 0.75, latencyMs: { p50: 100, p95: 200 } });
  assert.deepEqual(out.pipelines[1]!.performance, { requests: 0, successRate: null, latencyMs: null });
});

test("performance counts 2xx and 5xx over the last 24 h; 4xx are the caller's and do not count", () => {
  let now = 0;
  const w = new PerformanceWindow(() => now);
  w.observe("llm", 200, 100);
  w.observe("llm", 200, 300);
  w.observe("llm", 503, 50);
  w.observe("llm", 400, 1);
  assert.deepEqual(w.summary().llm, { requests: 3, successRate: 0.6667, latencyMs: { p50: 100, p95: 300 } }); // nearest rank (core/percentile.ts)
  now = 26 * 60 * 60 * 1000;
  w.observe("llm", 200, 10);
  assert.deepEqual(w.summary().llm, { requests: 1, successRate: 1, latencyMs: { p50: 10, p95: 10 } });
});
