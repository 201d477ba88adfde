// CLI flags of the AI feature for orchestrator/main.ts (kept here so main.ts only forwards them).
import { createAiFeature, type AiFeature } from "./feature.ts";

export const AI_USAGE = `  --no-ai                do not serve the batch AI pipelines
  --ai-capacity N        concurrent requests per AI pipeline (default 4)
  --ai-latency-ms N      extra latency for every AI request (default 0)
  --ai-token-delay-ms N  delay before each streamed LLM token (default 0)
  --ai-zero-cost         text-to-image answers a fixed tiny PNG at once (benchmarks)
  --ai-data-uris         answer data URIs instead of result URLs
`;

export const AI_CLI_OPTIONS = {
  "no-ai": { type: "boolean" },
  "ai-capacity": { type: "string" },
  "ai-latency-ms": { type: "string" },
  "ai-token-delay-ms": { type: "string" },
  "ai-zero-cost": { type: "boolean" },
  "ai-data-uris": { type: "boolean" },
} as const;

function int(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || v.trim() === "" || !Number.isInteger(n) || n < 0) throw new Error(`--${name}: invalid value "${String(v)}"`);
  return n;
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
  });
}
