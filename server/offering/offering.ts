// The public offering (GET /v1/offering): who this gateway is (configuration: name, regions,
// SLA) and what it serves now (pipelines and models from the orchestrators it can reach), at
// which customer price (the price book over the cheapest advertised orchestrator price), and
// how it has performed (success rate, latency p50/p95 per pipeline over the last 24 h).
import { capabilityToPipeline, Capability } from "../../protocol/capabilities.ts";
import type { PriceBook, PriceRule } from "../accounts/pricing.ts";
import type { OrchestratorSnapshot } from "../orchestrators/registry.ts";
import type { PipelinePerformance } from "./performance.ts";

export interface OfferingConfig {
  offeringName: string;
  offeringRegions: string;
  offeringSla: string;
}

export interface OfferingInputs {
  config: OfferingConfig;
  orchestrators: OrchestratorSnapshot[];
  priceBook: PriceBook;
  performance: Record<string, PipelinePerformance>;
  now: number;
}

/** Billing units a pipeline's price is per (pixels for video, the contract's units for batch AI). */
const UNIT_QUANTUM = 1_000_000;

interface ModelOffer { id: string; warm: boolean; orchestrators: number; lowestPricePerUnitWei: number | null }

function priceView(book: PriceBook, pipeline: string, lowestWeiPerUnit: number | null): Record<string, unknown> {
  const rule: PriceRule = book.ruleFor(pipeline);
  if (rule.mode === "fixed") return { currency: book.currency, mode: "fixed", price: rule.price, per: rule.per, basis: rule.basis };
  const perMillion = lowestWeiPerUnit === null
    ? null
    : book.charge({ pipeline, orchestratorCostWei: BigInt(Math.round(lowestWeiPerUnit * UNIT_QUANTUM)) }) / 1_000_000;
  return { currency: book.currency, mode: "margin", margin: rule.margin, fromPerMillionUnits: perMillion };
}

export function buildOffering(inp: OfferingInputs): Record<string, unknown> {
  const serving = inp.orchestrators.filter((o) => o.reachable && o.suspendedUntil === null);
  const pipelines = new Map<string, Map<string, ModelOffer>>();
  const offer = (pipeline: string, model: string, warm: boolean, weiPerUnit: number | null) => {
    let models = pipelines.get(pipeline);
    if (!models) pipelines.set(pipeline, (models = new Map()));
    const m = models.get(model) ?? { id: model, warm: false, orchestrators: 0, lowestPricePerUnitWei: null };
    m.warm ||= warm;
    m.orchestrators++;
    if (weiPerUnit !== null && (m.lowestPricePerUnitWei === null || weiPerUnit < m.lowestPricePerUnitWei)) m.lowestPricePerUnitWei = weiPerUnit;
    models.set(model, m);
  };
  for (const o of serving) {
    for (const cap of o.capabilities) {
      if (cap.id === Capability.H264) {
        offer("transcode", "", true, o.price ? o.price.pricePerUnit / o.price.pixelsPerUnit : null);
        continue;
      }
      const pipeline = capabilityToPipeline(cap.id);
      if (!pipeline) continue;
      const models = Object.entries(cap.models);
      const priceOf = (model: string) => {
        const p = o.capabilitiesPrices.find((x) => x.capability === cap.id && x.modelId === model) ?? o.capabilitiesPrices.find((x) => x.capability === cap.id && !x.modelId);
        return p ? p.pricePerUnit / p.pixelsPerUnit : null;
      };
      if (!models.length) offer(pipeline, "", false, priceOf(""));
      for (const [model, c] of models) offer(pipeline, model, c.warm, priceOf(model));
    }
  }
  const list = [...pipelines.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([pipeline, models]) => {
    const ms = [...models.values()].filter((m) => m.id).sort((a, b) => a.id.localeCompare(b.id));
    const prices = [...models.values()].map((m) => m.lowestPricePerUnitWei).filter((p): p is number => p !== null);
    return {
      pipeline,
      models: ms.map((m) => ({ id: m.id, warm: m.warm, orchestrators: m.orchestrators })),
      orchestrators: Math.max(...[...models.values()].map((m) => m.orchestrators)),
      price: priceView(inp.priceBook, pipeline, prices.length ? Math.min(...prices) : null),
      performance: inp.performance[pipeline] ?? { requests: 0, successRate: null, latencyMs: null },
    };
  });
  return {
    name: inp.config.offeringName || null,
    regions: inp.config.offeringRegions.split(",").map((r) => r.trim()).filter(Boolean),
    sla: inp.config.offeringSla || null,
    generatedAt: new Date(inp.now).toISOString(),
    performanceWindowHours: 24,
    pipelines: list,
  };
}
