// Paying for batch AI requests: the orchestrator's balance for (capability, model) is topped up
// through the remote signer (protocol/payments), one payment per request, with the info and
// price the orchestrator quotes for that model (server/payments/priced-info.ts says why).
import { PaymentRefusal } from "../../protocol/payments/balance-session.ts";
import type { Payer } from "../../protocol/payments/payer.ts";
import type { PricedInfoCache } from "../payments/priced-info.ts";
import type { AiCandidate, AiPayments } from "./orchestrators.ts";

export function aiPayments(priced: PricedInfoCache, payer: Payer): AiPayments {
  return {
    async pay(cand: AiCandidate, capability: number, model: string, units: number, signal?: AbortSignal) {
      const info = await priced.get(cand.address, capability, model).catch((err: Error) => {
        throw new PaymentRefusal("no-quote", `${cand.address} gave no price for ${model}: ${err.message}`);
      });
      const paid = await payer.payPixels(
        {
          orchestrator: cand.address,
          info,
          price: info.priceInfo ?? {},
          // go-livepeer's orchestrator keeps an AI balance per "<capability>_<model>".
          balanceKey: `${capability}_${model}`,
          pixels: units,
          refresh: () => priced.refresh(cand.address, capability, model),
        },
        signal,
      );
      return { payment: paid.payment, evWei: paid.evWei, authToken: paid.info.authToken, settle: paid.settle };
    },
  };
}
