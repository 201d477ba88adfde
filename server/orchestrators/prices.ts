// Orchestrator prices: per capability/model lookup in OrchestratorInfo, exact
// comparison against a cap, and go-livepeer's `maxPricePerCapability` JSON.
import { pipelineToCapability } from "../../protocol/capabilities.ts";
import type { OrchestratorInfo, PriceInfo } from "../../protocol/messages.ts";

export interface Price {
  /** Wei per pixelsPerUnit units. */
  pricePerUnit: number;
  pixelsPerUnit: number;
}

/**
 * The orchestrator's price for a capability (and model): for AI capabilities the
 * matching `capabilities_prices` entry (model first, then capability-wide); for
 * transcoding (no entry) `price_info`. Undefined when none is advertised (free).
 */
export function priceFor(info: OrchestratorInfo | undefined, capability: number, modelId?: string): Price | undefined {
  const prices = info?.capabilitiesPrices ?? [];
  const pick = (p: PriceInfo | undefined): Price | undefined =>
    p ? { pricePerUnit: p.pricePerUnit ?? 0, pixelsPerUnit: p.pixelsPerUnit || 1 } : undefined;
  if (modelId !== undefined) {
    const exact = prices.find((p) => (p.capability ?? 0) === capability && p.constraint === modelId);
    if (exact) return pick(exact);
  }
  const capWide = prices.find((p) => (p.capability ?? 0) === capability && !p.constraint);
  if (capWide) return pick(capWide);
  if (prices.some((p) => (p.capability ?? 0) === capability)) return undefined; // only other models priced
  return pick(info?.priceInfo);
}

function toBig(n: number): bigint {
  return BigInt(Math.round(n));
}

/** price <= cap, compared exactly (cross-multiplied in bigint). */
export function withinCap(price: Price | undefined, cap: Price | undefined): boolean {
  if (!cap || !price) return true;
  return toBig(price.pricePerUnit) * toBig(cap.pixelsPerUnit) <= toBig(cap.pricePerUnit) * toBig(price.pixelsPerUnit);
}

/** Price per single unit (float, for display and scoring). */
export function unitPrice(p: Price | undefined): number {
  if (!p) return 0;
  return p.pricePerUnit / (p.pixelsPerUnit || 1);
}

export interface CapabilityPriceCap extends Price {
  capability: number;
  /** undefined = every model of the capability. */
  modelId?: string;
}

/**
 * go-livepeer's `maxPricePerCapability`:
 * `{"capabilities_prices":[{"pipeline":"text-to-image","model_id":"m","price_per_unit":1000,"pixels_per_unit":1}]}`.
 * Prices are in wei (a `currency` other than WEI is rejected). `model_id` "default" or absent = all models.
 */
export function parseMaxPricePerCapability(json: string): CapabilityPriceCap[] {
  if (!json.trim()) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new Error(`maxPricePerCapability: invalid JSON: ${(err as Error).message}`);
  }
  const list = (parsed as { capabilities_prices?: unknown })?.capabilities_prices;
  if (!Array.isArray(list)) throw new Error("maxPricePerCapability: expected {capabilities_prices: [...]}");
  return list.map((e, i) => {
    const o = (e ?? {}) as Record<string, unknown>;
    const cap = typeof o.pipeline === "string" ? pipelineToCapability(o.pipeline) : typeof o.capability === "number" ? o.capability : undefined;
    if (cap === undefined) throw new Error(`maxPricePerCapability[${i}]: unknown pipeline ${JSON.stringify(o.pipeline)}`);
    const price = Number(o.price_per_unit);
    const pixels = o.pixels_per_unit === undefined ? 1 : Number(o.pixels_per_unit);
    if (!Number.isFinite(price) || price < 0) throw new Error(`maxPricePerCapability[${i}]: invalid price_per_unit`);
    if (!Number.isFinite(pixels) || pixels <= 0) throw new Error(`maxPricePerCapability[${i}]: invalid pixels_per_unit`);
    if (o.currency !== undefined && String(o.currency).toUpperCase() !== "WEI") {
      throw new Error(`maxPricePerCapability[${i}]: only WEI prices are supported (got ${String(o.currency)})`);
    }
    const model = typeof o.model_id === "string" && o.model_id !== "" && o.model_id !== "default" ? o.model_id : undefined;
    return { capability: cap, modelId: model, pricePerUnit: price, pixelsPerUnit: pixels };
  });
}

/** The cap that applies to (capability, model): model-specific first, then capability-wide, then `fallback`. */
export function capFor(caps: readonly CapabilityPriceCap[], capability: number, modelId?: string, fallback?: Price): Price | undefined {
  const exact = modelId !== undefined ? caps.find((c) => c.capability === capability && c.modelId === modelId) : undefined;
  const wide = caps.find((c) => c.capability === capability && c.modelId === undefined);
  const c = exact ?? wide;
  return c ? { pricePerUnit: c.pricePerUnit, pixelsPerUnit: c.pixelsPerUnit } : fallback;
}
