// The live AI session's view of orchestrator selection, backed by the shared registry:
// capability live-video-to-video + model, under the price cap.
import { Capability } from "../../protocol/capabilities.ts";
import type { LiveCandidate, LiveRouting } from "../../media/live/acquire.ts";
import type { Price } from "./prices.ts";
import type { PricedInfoCache } from "../payments/priced-info.ts";
import type { PriceInfo } from "../../protocol/messages.ts";
import { wantsTickets, type TicketSource } from "../../protocol/payments/balance-session.ts";
import { LivePaymentSession } from "../../protocol/payments/live-payments.ts";
import { MAX_PRICE_UNIT } from "../../protocol/payments/remote-signer-wire.ts";
import type { ClientTlsPolicy } from "../../protocol/tls.ts";
import type { FailureKind, OrchestratorRegistry } from "./registry.ts";

const FAILURE_KIND: Record<string, FailureKind> = {
  "publish-error": "network",
  "output-ended": "network",
  "output-error": "network",
  "events-ended": "network",
  "events-silent": "timeout",
  "no-output": "timeout",
  timeout: "timeout",
  network: "network",
  auth: "auth",
  payment: "payment",
};

export interface LivePaymentDeps {
  signer: TicketSource;
  /** Info for (orchestrator, live-video-to-video, model), priced for that model. */
  priced: PricedInfoCache;
  tls?: ClientTlsPolicy;
}

/** The price of live-video-to-video for `modelId` at an orchestrator, as a PriceInfo. */
function livePrice(registry: Pick<OrchestratorRegistry, "priceOf">, address: string, modelId: string): PriceInfo | undefined {
  const p = registry.priceOf(address, Capability.LiveVideoToVideo, modelId);
  return p ? { pricePerUnit: p.pricePerUnit, pixelsPerUnit: p.pixelsPerUnit, capability: Capability.LiveVideoToVideo, constraint: modelId } : undefined;
}

/** LiveRouting over the shared registry: capability 35 + model, price caps, payments through the signer. */
export function registryLiveRouting(
  registry: Pick<OrchestratorRegistry, "select" | "reportSuccess" | "reportFailure" | "reportBusy" | "info" | "priceOf" | "refresh">,
  modelId: string,
  opts: { maxPricePerUnit?: Price; ignoreMaxPriceIfNeeded?: boolean; payments?: LivePaymentDeps } = {},
): LiveRouting {
  const wants = (address: string) => {
    const info = registry.info(address);
    return info !== undefined && wantsTickets(info, livePrice(registry, address, modelId));
  };
  return {
    payments(c: LiveCandidate): LivePaymentSession | undefined {
      const info = registry.info(c.address);
      const price = livePrice(registry, c.address, modelId);
      if (!opts.payments || !info || !wantsTickets(info, price)) return undefined;
      const priced = opts.payments.priced;
      let fresh = false;
      return new LivePaymentSession({
        signer: opts.payments.signer,
        // The first quote may come from the cache; a 480 asks the orchestrator again.
        quote: () => {
          const q = fresh ? priced.refresh(c.address, Capability.LiveVideoToVideo, modelId) : priced.get(c.address, Capability.LiveVideoToVideo, modelId);
          fresh = true;
          return q;
        },
        tls: opts.payments.tls,
        // The price cap travels to the signer too (go-livepeer compares it with wei per pixel as is).
        maxPrice: opts.maxPricePerUnit
          ? { price: opts.maxPricePerUnit.pricePerUnit / (opts.maxPricePerUnit.pixelsPerUnit || 1), currency: "wei", unit: MAX_PRICE_UNIT.lv2v }
          : undefined,
      });
    },
    candidates(exclude, count): LiveCandidate[] {
      return registry
        .select({
          capability: Capability.LiveVideoToVideo,
          modelId,
          exclude,
          count,
          maxPricePerUnit: opts.maxPricePerUnit,
          ignoreMaxPriceIfNeeded: opts.ignoreMaxPriceIfNeeded,
        })
        // Without a signer, an orchestrator that wants tickets cannot be used.
        .filter((s) => opts.payments !== undefined || !wants(s.address))
        .map((s) => ({
          address: s.address,
          transcoder: s.transcoder,
          authToken: s.authToken,
          pricePerPixelWei: s.price ? s.price.pricePerUnit / (s.price.pixelsPerUnit || 1) : 0,
        }));
    },
    success: (address, ms) => registry.reportSuccess(address, ms),
    failure: (address, reason) => {
      // A session that could not be paid is our signer's or the price's doing, not a fault.
      if (reason === "payment") return;
      registry.reportFailure(address, FAILURE_KIND[reason] ?? "other");
    },
    busy: (address) => registry.reportBusy(address),
  };
}

