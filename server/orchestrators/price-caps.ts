// Price caps per pipeline (batch AI and live AI), go-livepeer style: `maxPricePerCapability` JSON
// ({"capabilities_prices": [{pipeline, model_id, price_per_unit, pixels_per_unit, currency}]})
// per (pipeline, model), falling back to the pipeline-wide entry (model_id missing or
// "default"), then to the global maxPricePerUnit / pixelsPerUnit (0 = no cap).

import { pipelineToCapability } from "../../protocol/capabilities.ts";
import type { Price } from "./prices.ts";

export type { Price };

export class PriceCapError extends Error {}

interface CapEntry {
  pipeline: string;
  model: string;
  price: Price;
}

export class PriceCaps {
  private readonly entries = new Map<string, Price>();

  constructor(entries: CapEntry[] = [], private readonly global?: Price) {
    for (const e of entries) this.entries.set(`${e.pipeline}\n${e.model}`, e.price);
  }

  /** The cap for (pipeline, model), or undefined when there is none. */
  capFor(pipeline: string, model: string): Price | undefined {
    return this.entries.get(`${pipeline}\n${model}`) ?? this.entries.get(`${pipeline}\n`) ?? this.global;
  }

  /** True when `price` exceeds the cap (pricePerUnit/pixelsPerUnit compared exactly). */
  exceeds(pipeline: string, model: string, price: Price): boolean {
    const cap = this.capFor(pipeline, model);
    if (!cap) return false;
    return BigInt(Math.round(price.pricePerUnit)) * BigInt(Math.round(cap.pixelsPerUnit)) > BigInt(Math.round(cap.pricePerUnit)) * BigInt(Math.max(1, Math.round(price.pixelsPerUnit)));
  }

  describe(pipeline: string, model: string): string {
    const c = this.capFor(pipeline, model);
    return c ? `${c.pricePerUnit} wei per ${c.pixelsPerUnit} unit${c.pixelsPerUnit === 1 ? "" : "s"}` : "none";
  }
}

/**
 * Parse go-livepeer's `-maxPricePerCapability` JSON (already loaded from a file if a path
 * was given). Throws PriceCapError naming the bad entry.
 */
export function parsePriceCaps(json: unknown, global?: { maxPricePerUnit: number; pixelsPerUnit: number }): PriceCaps {
  const g = global && global.maxPricePerUnit > 0 ? { pricePerUnit: global.maxPricePerUnit, pixelsPerUnit: global.pixelsPerUnit || 1 } : undefined;
  if (json === undefined || json === null || json === "") return new PriceCaps([], g);
  const list = (json as { capabilities_prices?: unknown }).capabilities_prices;
  if (!Array.isArray(list)) throw new PriceCapError('maxPricePerCapability: expected {"capabilities_prices": [...]}');
  const entries: CapEntry[] = [];
  list.forEach((raw, i) => {
    const where = `maxPricePerCapability.capabilities_prices[${i}]`;
    const e = raw as Record<string, unknown>;
    if (!e || typeof e !== "object") throw new PriceCapError(`${where}: expected an object`);
    if (typeof e.pipeline !== "string" || !e.pipeline) throw new PriceCapError(`${where}.pipeline: expected a pipeline name`);
    if (pipelineToCapability(e.pipeline) === undefined) throw new PriceCapError(`${where}.pipeline: unknown pipeline "${e.pipeline}"`);
    const model = e.model_id === undefined || e.model_id === null || e.model_id === "default" ? "" : e.model_id;
    if (typeof model !== "string") throw new PriceCapError(`${where}.model_id: expected a string`);
    const currency = e.currency === undefined ? "WEI" : String(e.currency).toUpperCase();
    if (currency !== "WEI") throw new PriceCapError(`${where}.currency: only WEI is supported (Wharf does not fetch exchange rates), got "${e.currency}"`);
    const ppu = e.price_per_unit;
    const pix = e.pixels_per_unit === undefined ? 1 : e.pixels_per_unit;
    if (ppu === undefined) {
      // A missing price falls back to the global cap.
      if (g) entries.push({ pipeline: e.pipeline, model, price: g });
      return;
    }
    if (typeof ppu !== "number" || !Number.isFinite(ppu) || ppu < 0) throw new PriceCapError(`${where}.price_per_unit: expected a non-negative number`);
    if (typeof pix !== "number" || !Number.isFinite(pix) || pix <= 0) throw new PriceCapError(`${where}.pixels_per_unit: expected a positive number`);
    entries.push({ pipeline: e.pipeline, model, price: { pricePerUnit: ppu, pixelsPerUnit: pix } });
  });
  return new PriceCaps(entries, g);
}
