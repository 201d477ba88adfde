// The transcode processor's view of orchestrator selection, backed by the shared registry.
import { Capability } from "../../protocol/capabilities.ts";
import type { TranscodeErrorKind } from "../../protocol/transcode-client.ts";
import type { SegmentPayment, SegmentRoute, TranscodeRouting } from "../../media/processors/transcode.ts";
import { PaymentRefusal, wantsTickets } from "../../protocol/payments/balance-session.ts";
import type { Payer } from "../../protocol/payments/payer.ts";
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
  opts: { maxPricePerUnit?: Price; ignoreMaxPriceIfNeeded?: boolean; payer?: Payer },
): TranscodeRouting {
  return {
    // One payment per segment, for the ladder's output pixels, from the balance go-livepeer's
    // orchestrator keeps per transcoding session (the auth token's session id).
    async pay(route: SegmentRoute, pixels: number): Promise<SegmentPayment> {
      const info = registry.info(route.address);
      if (!info) throw new PaymentRefusal("signer", `no OrchestratorInfo for ${route.address}`);
      const price = info.priceInfo;
      if (!opts.payer) {
        if (wantsTickets(info, price)) throw new PaymentRefusal("signer", `${route.address} requires payment and this gateway pays no one (set remoteSignerUrl)`);
        return { payment: "", evWei: 0n, settle: () => {} };
      }
      const paid = await opts.payer.payPixels({
        orchestrator: route.address,
        info,
        price: price ?? {},
        balanceKey: route.authToken.sessionId ?? route.address,
        pixels,
      });
      return { payment: paid.payment, evWei: paid.evWei, authToken: paid.info.authToken, settle: paid.settle };
    },
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
