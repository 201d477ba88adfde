// Paying for batch AI requests: the orchestrator's balance for (capability, model) is topped up
// through the remote signer (protocol/payments), one payment per request, priced as the
// orchestrator prices that model.
import type { Payer } from "../../protocol/payments/payer.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import type { AiCandidate, AiPayments } from "./orchestrators.ts";

export function registryAiPayments(registry: OrchestratorRegistry, payer: Payer): AiPayments {
  return {
    async pay(cand: AiCandidate, capability: number, model: string, units: number, signal?: AbortSignal) {
      const info = registry.info(cand.address);
      if (!info) throw new Error(`no OrchestratorInfo for ${cand.address}`);
      const paid = await payer.payPixels(
        {
          orchestrator: cand.address,
          info,
          price: { pricePerUnit: cand.price.pricePerUnit, pixelsPerUnit: cand.price.pixelsPerUnit, capability, constraint: model },
          // go-livepeer's orchestrator keeps an AI balance per "<capability>_<model>".
          balanceKey: `${capability}_${model}`,
          pixels: units,
        },
        signal,
      );
      return { payment: paid.payment, evWei: paid.evWei, authToken: paid.info.authToken, settle: paid.settle };
    },
  };
}
