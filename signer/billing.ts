// What one /generate-live-payment call charges (go-livepeer server/remote_signer.go): the signer
// bills by time since its last successful call, not by what the gateway claims.
//   lv2v : 1280x720x30 pixels per elapsed second (float seconds, truncated); the first call prepays 60 s
//   live : elapsed seconds rounded up; the first call prepays 10 s
//   fixed: 1 unit per call
//   ""   : the request's inPixels
// fee = units x the session's initial pricePerUnit / pixelsPerUnit (locked when the session began).
import { Rational } from "../protocol/payments/rational.ts";
import type { PaymentType } from "../protocol/payments/remote-signer-wire.ts";

export const LV2V_PIXELS_PER_SECOND = 1280 * 720 * 30;
export const LV2V_PREPAID_SECONDS = 60;
export const LIVE_PREPAID_SECONDS = 10;

export interface BillableUnits {
  units: number;
  billableSeconds: number;
}

/** Units to charge; a non-positive elapsed time (first call, clock skew) means the prepaid period. */
export function billableUnits(type: PaymentType, lastUpdateMs: number, nowMs: number, inPixels: number, lv2vPrepaidSeconds = LV2V_PREPAID_SECONDS): BillableUnits {
  const elapsed = lastUpdateMs > 0 ? (nowMs - lastUpdateMs) / 1000 : 0;
  switch (type) {
    case "lv2v": {
      const secs = elapsed > 0 ? elapsed : lv2vPrepaidSeconds;
      return { units: Math.trunc(LV2V_PIXELS_PER_SECOND * secs), billableSeconds: secs };
    }
    case "live": {
      const secs = elapsed > 0 ? elapsed : LIVE_PREPAID_SECONDS;
      return { units: Math.ceil(secs), billableSeconds: secs };
    }
    case "fixed":
      return { units: 1, billableSeconds: elapsed };
    case "":
      return { units: inPixels, billableSeconds: elapsed };
  }
}

export function feeFor(units: number, pricePerUnit: number, pixelsPerUnit: number): Rational {
  return Rational.of(pricePerUnit, pixelsPerUnit).mul(Rational.of(units));
}
