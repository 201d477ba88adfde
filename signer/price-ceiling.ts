// The price ceilings a payment call is checked against (go-livepeer remote_signer.go): the
// signer's configured maximum, the request's maxPrice, the session's initial price and the auth
// webhook's maxPrice. The lowest one present applies; equal passes, above answers 481. Note go
// compares maxPrice.price directly with pricePerUnit/pixelsPerUnit: the unit is a label to match.
import { Rational } from "../protocol/payments/rational.ts";
import { MAX_PRICE_UNIT, type PaymentType } from "../protocol/payments/remote-signer-wire.ts";
import type { RawMaxPrice } from "./payment-request.ts";

export interface PriceCeiling {
  source: "configured maximum price" | "request maxPrice" | "initial session price" | "auth webhook maxPrice";
  price: Rational | undefined;
}

/** A maxPrice as a ceiling; throws Error (a 400) when it is not a positive wei price in the type's unit. */
export function parseMaxPrice(maxPrice: RawMaxPrice | undefined, type: PaymentType): Rational | undefined {
  if (!maxPrice) return undefined;
  const price = Rational.parse(maxPrice.price);
  if (!price || price.sign() <= 0) throw new Error("maxPrice.price must be a positive decimal");
  if (maxPrice.currency.trim().toLowerCase() !== "wei") throw new Error("maxPrice.currency must be wei");
  if (type === "") throw new Error("maxPrice requires payment type live, lv2v, or fixed");
  const unit = MAX_PRICE_UNIT[type];
  if (maxPrice.unit.trim().toLowerCase() !== unit) throw new Error(`maxPrice.unit must be ${unit} for payment type ${type}`);
  return price;
}

/** The reason to refuse (481) when `price` is above the lowest ceiling present, else undefined. */
export function priceAboveCeiling(price: Rational, ceilings: readonly PriceCeiling[]): string | undefined {
  let lowest: PriceCeiling | undefined;
  for (const c of ceilings) if (c.price && (!lowest || c.price.cmp(lowest.price!) < 0)) lowest = c;
  if (lowest && price.cmp(lowest.price!) > 0) {
    return `orchestrator price ${price.toFixed(3)} exceeds ${lowest.source} ceiling ${lowest.price!.toFixed(3)}`;
  }
  return undefined;
}
