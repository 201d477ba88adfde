// CLI flags of the AI feature for orchestrator/main.ts (kept here so main.ts only forwards them).
import { AI_PIPELINES, type AiPipeline } from "../../protocol/ai/spec.ts";
import type { Price } from "../feature.ts";
import { createAiFeature, type AiFeature, type AiFeatureOptions } from "./feature.ts";

export const AI_USAGE = `  --no-ai                do not serve the batch AI pipelines
  --ai-capacity N        concurrent requests per AI pipeline (default 4)
  --ai-latency-ms N      extra latency for every AI request (default 0)
  --ai-token-delay-ms N  delay before each streamed LLM token (default 0)
  --ai-zero-cost         text-to-image answers a fixed tiny PNG at once (benchmarks)
  --ai-data-uris         answer data URIs instead of result URLs
  --ai-cold-models M,M   advertise these models as cold (warm=false)
  --ai-prices JSON       price of each model of a pipeline, wei per unit:
                         '{"text-to-image":50,"llm":{"pricePerUnit":5,"pixelsPerUnit":1}}'
                         (--ai-price overrides what this advertises)
`;

export const AI_CLI_OPTIONS = {
  "no-ai": { type: "boolean" },
  "ai-capacity": { type: "string" },
  "ai-latency-ms": { type: "string" },
  "ai-token-delay-ms": { type: "string" },
  "ai-zero-cost": { type: "boolean" },
  "ai-data-uris": { type: "boolean" },
  "ai-cold-models": { type: "string" },
  "ai-prices": { type: "string" },
} as const;

function int(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || v.trim() === "" || !Number.isInteger(n) || n < 0) throw new Error(`--${name}: invalid value "${String(v)}"`);
  return n;
}

function coldModels(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  const models = String(v).split(",").map((m) => m.trim());
  if (models.some((m) => m === "")) throw new Error(`--ai-cold-models: expected model ids separated by commas, got "${String(v)}"`);
  return models;
}

function prices(v: unknown): AiFeatureOptions["prices"] {
  if (v === undefined) return undefined;
  const bad = (why: string) => new Error(`--ai-prices: ${why} (expected '{"<pipeline>": <wei per unit> | {"pricePerUnit": N, "pixelsPerUnit": N}}')`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(v));
  } catch {
    throw bad(`not JSON: ${String(v)}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw bad("not a JSON object");
  const isInt = (n: unknown, min: number): n is number => typeof n === "number" && Number.isInteger(n) && n >= min;
  const out: Partial<Record<AiPipeline, number | Price>> = {};
  for (const [p, price] of Object.entries(parsed)) {
    if (!(AI_PIPELINES as readonly string[]).includes(p)) throw bad(`unknown pipeline "${p}"`);
    if (isInt(price, 0)) {
      out[p as AiPipeline] = price;
    } else if (price && typeof price === "object" && isInt((price as Price).pricePerUnit, 0) && isInt((price as Price).pixelsPerUnit, 1) && Object.keys(price).length === 2) {
      out[p as AiPipeline] = { pricePerUnit: (price as Price).pricePerUnit, pixelsPerUnit: (price as Price).pixelsPerUnit };
    } else {
      throw bad(`invalid price for ${p}: ${JSON.stringify(price)}`);
    }
  }
  return out;
}

/** The AI feature configured from parsed CLI values (undefined with --no-ai). Throws on bad values. */
export function aiFeatureFromCli(values: Record<string, unknown>): AiFeature | undefined {
  if (values["no-ai"]) return undefined;
  const latency = int("ai-latency-ms", values["ai-latency-ms"]);
  const lat: Record<string, number> = {};
  if (latency) for (const p of ["text-to-image", "image-to-image", "image-to-video", "upscale", "audio-to-text", "llm", "segment-anything-2", "image-to-text", "text-to-speech"]) lat[p] = latency;
  return createAiFeature({
    capacity: int("ai-capacity", values["ai-capacity"]),
    latencyMs: lat,
    llmTokenDelayMs: int("ai-token-delay-ms", values["ai-token-delay-ms"]),
    zeroCost: values["ai-zero-cost"] === true,
    resultsAs: values["ai-data-uris"] ? "data" : "auto",
    coldModels: coldModels(values["ai-cold-models"]),
    prices: prices(values["ai-prices"]),
  });
}
