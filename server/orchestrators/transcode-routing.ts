// The transcode processor's view of orchestrator selection, backed by the shared registry.
import { Capability } from "../../protocol/capabilities.ts";
import type { TranscodeErrorKind } from "../../protocol/transcode-client.ts";
import type { SegmentRoute, TranscodeRouting } from "../../media/processors/transcode.ts";
import type { Price } from "./prices.ts";
import type { FailureKind, OrchestratorRegistry } from "./registry.ts";

const FAILURE: Partial<Record<TranscodeErrorKind, FailureKind>> = {
  timeout: "timeout",
  network: "network",
  auth: "auth",
  "bad-result": "bad-result",
  download: "bad-result",
  "transcode-failed": "transcode-failed",
  payment: "payment",
};

export function registryTranscodeRouting(
  registry: OrchestratorRegistry,
  opts: { maxPricePerUnit?: Price; ignoreMaxPriceIfNeeded?: boolean },
): TranscodeRouting {
  return {
    pick(exclude: ReadonlySet<string>): SegmentRoute | undefined {
      const [best] = registry.select({
        capability: Capability.H264,
        capabilities: [Capability.H264, Capability.MPEGTS],
        maxPricePerUnit: opts.maxPricePerUnit,
        ignoreMaxPriceIfNeeded: opts.ignoreMaxPriceIfNeeded,
        exclude,
      });
      if (!best) return undefined;
      const price = best.price;
      return {
        address: best.address,
        transcoder: best.transcoder,
        authToken: best.authToken,
        pricePerPixelWei: price ? price.pricePerUnit / (price.pixelsPerUnit || 1) : 0,
      };
    },
    success: (address, latencyMs) => registry.reportSuccess(address, latencyMs),
    failure(address, kind) {
      if (kind === "busy" || kind === "capped") registry.reportBusy(address);
      else if (kind !== "aborted") registry.reportFailure(address, FAILURE[kind] ?? "other");
    },
  };
}
