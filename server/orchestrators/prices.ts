// Orchestrator prices: per capability/model lookup in OrchestratorInfo and exact
// comparison against a cap (the caps themselves: price-caps.ts).
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
