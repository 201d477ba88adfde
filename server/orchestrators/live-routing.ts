// The live AI session's view of orchestrator selection, backed by the shared registry:
// capability live-video-to-video + model, under the price cap.
import { Capability } from "../../protocol/capabilities.ts";
import type { LiveCandidate, LiveRouting } from "../../media/live/acquire.ts";
import type { Price } from "./prices.ts";
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

/** LiveRouting over the shared registry: capability 35 + model, price caps. */
export function registryLiveRouting(
  registry: Pick<OrchestratorRegistry, "select" | "reportSuccess" | "reportFailure" | "reportBusy">,
  modelId: string,
  opts: { maxPricePerUnit?: Price; ignoreMaxPriceIfNeeded?: boolean } = {},
): LiveRouting {
  return {
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
        .map((s) => ({
          address: s.address,
          transcoder: s.transcoder,
          authToken: s.authToken,
          pricePerPixelWei: s.price ? s.price.pricePerUnit / (s.price.pixelsPerUnit || 1) : 0,
        }));
    },
    success: (address, ms) => registry.reportSuccess(address, ms),
    failure: (address, reason) => registry.reportFailure(address, FAILURE_KIND[reason] ?? "other"),
    busy: (address) => registry.reportBusy(address),
  };
}

