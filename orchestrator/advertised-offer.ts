// What the development orchestrator advertises in OrchestratorInfo: its capabilities (transcoding
// plus every feature's, with per-model constraints and capacities) and its prices (per capability
// and model), and go-livepeer's rule for the price a request naming capabilities is quoted.
import type { Logger } from "../core/log.ts";
import { buildBitstring, TRANSCODING_CAPABILITIES } from "../protocol/capabilities.ts";
import type { Capabilities, CapabilityConstraints, PriceInfo } from "../protocol/messages.ts";
import { Rational } from "../protocol/payments/rational.ts";
import type { FeatureCapability, OrchestratorFeature, Price } from "./feature.ts";

export const ORCHESTRATOR_VERSION = "0.9.0-wharf-dev";

export interface CapabilityPriceOption extends Price {
  capability: number;
  /** Model id; omit for the capability-wide price. */
  modelId?: string;
}

export function priceInfo(p: Price, capability: number, constraint = ""): PriceInfo {
  return { pricePerUnit: p.pricePerUnit, pixelsPerUnit: p.pixelsPerUnit, capability, constraint };
}

function priceOf(r: Rational): Price {
  return { pricePerUnit: Number(r.num), pixelsPerUnit: Number(r.den) };
}

export interface AdvertisedOfferOptions {
  features: readonly OrchestratorFeature[];
  log: Logger;
  capacity(): number;
  capabilityPrices: readonly CapabilityPriceOption[];
  transcodePrice: Price;
}

export class AdvertisedOffer {
  constructor(private readonly o: AdvertisedOfferOptions) {}

  featureCaps(): FeatureCapability[] {
    const all: FeatureCapability[] = [];
    for (const f of this.o.features) {
      try {
        all.push(...f.capabilities());
      } catch (err) {
        this.o.log.warn({ feature: f.name, err: (err as Error).message }, "feature capabilities() failed");
      }
    }
    return all;
  }

  buildCapabilities(fcaps: FeatureCapability[]): Capabilities {
    const capacity = this.o.capacity();
    const caps = new Set<number>(TRANSCODING_CAPABILITIES);
    const capacities: Record<number, number> = {};
    for (const c of TRANSCODING_CAPABILITIES) capacities[c] = capacity;
    const perCapability: Record<number, CapabilityConstraints> = {};
    for (const fc of fcaps) {
      caps.add(fc.capability);
      capacities[fc.capability] = fc.capacity;
      if (fc.models && Object.keys(fc.models).length > 0) {
        const models: NonNullable<CapabilityConstraints["models"]> = {};
        for (const [id, m] of Object.entries(fc.models)) {
          models[id] = { warm: m.warm, capacity: m.capacity, capacityInUse: m.capacityInUse ?? 0, runnerVersion: m.runnerVersion ?? "" };
        }
        perCapability[fc.capability] = { models };
      }
    }
    return {
      bitstring: buildBitstring(caps),
      mandatories: [],
      capacities,
      version: ORCHESTRATOR_VERSION,
      constraints: { minVersion: "", PerCapability: perCapability },
    };
  }

  buildPrices(fcaps: FeatureCapability[]): PriceInfo[] {
    const prices = new Map<string, PriceInfo>();
    for (const fc of fcaps) {
      if (fc.price) prices.set(`${fc.capability}:`, priceInfo(fc.price, fc.capability));
      for (const [id, m] of Object.entries(fc.models ?? {})) {
        if (m.price) prices.set(`${fc.capability}:${id}`, priceInfo(m.price, fc.capability, id));
      }
    }
    for (const p of this.o.capabilityPrices) {
      prices.set(`${p.capability}:${p.modelId ?? ""}`, priceInfo(p, p.capability, p.modelId ?? ""));
    }
    return [...prices.values()];
  }

  /** The advertised price of a capability's model (its own price, else the capability-wide one, else 0). */
  advertisedPrice(prices: readonly PriceInfo[], capability: number, modelId: string): Price | undefined {
    const own = prices.find((p) => p.capability === capability && p.constraint === modelId) ?? prices.find((p) => p.capability === capability && !p.constraint);
    return own ? { pricePerUnit: own.pricePerUnit ?? 0, pixelsPerUnit: own.pixelsPerUnit || 1 } : undefined;
  }

  /**
   * go's PriceInfoForCaps: the sum of the prices of the models the request names per capability;
   * the transcoding price when that sum is 0 (or no capabilities were named).
   */
  priceForCapabilities(prices: readonly PriceInfo[], caps: Capabilities | undefined): Price {
    let sum = Rational.ZERO;
    for (const cap of Object.keys(caps?.capacities ?? {})) {
      const models = caps?.constraints?.PerCapability?.[Number(cap)]?.models;
      for (const modelId of Object.keys(models ?? {})) {
        const p = this.advertisedPrice(prices, Number(cap), modelId);
        if (p) sum = sum.add(Rational.of(p.pricePerUnit, p.pixelsPerUnit));
      }
    }
    return sum.sign() > 0 ? priceOf(sum) : this.o.transcodePrice;
  }
}
