// The body of POST /generate-live-payment read the way go-livepeer's encoding/json reads it: keys
// matched exactly, else case-insensitively; []byte fields standard base64 (null = empty); int64
// numbers must be integers; unknown keys ignored. Errors are 400s with a reason.
import { decodeStdBase64, isObject, PAYMENT_TYPES, type PaymentType } from "../protocol/payments/remote-signer-wire.ts";

export interface RawMaxPrice {
  /** Decimal text (a JSON number's literal or a numeric string). */
  price: string;
  currency: string;
  unit: string;
}

export interface PaymentRequest {
  orchestrator: Uint8Array;
  state: { State: Uint8Array; Sig: Uint8Array };
  manifestId: string;
  app: string;
  inPixels: number;
  /** Unknown types are kept as "invalid" and refused later, after go's earlier checks. */
  type: PaymentType | "invalid";
  maxPrice?: RawMaxPrice;
  capabilities: Uint8Array;
}

export class PaymentRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PaymentRequestError";
  }
}

/** A JSON key as Go's encoding/json finds it: the exact spelling first, else case-insensitively. */
export function pick(obj: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function bytes(obj: Record<string, unknown>, name: string, what: string): Uint8Array {
  const v = pick(obj, name);
  if (v === undefined || v === null) return new Uint8Array(0);
  const b = typeof v === "string" ? decodeStdBase64(v) : undefined;
  if (!b) throw new PaymentRequestError(`${what} is not base64`);
  return b;
}

function text(obj: Record<string, unknown>, name: string): string {
  const v = pick(obj, name);
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new PaymentRequestError(`${name} must be a string`);
  return v;
}

/**
 * Numbers are parsed from the raw JSON text by the caller only where precision matters (maxPrice);
 * JSON.parse's doubles are exact for int64 values up to 2^53, which bounds inPixels.
 */
export function parsePaymentRequest(raw: string): PaymentRequest {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (err) {
    throw new PaymentRequestError(`invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(body)) throw new PaymentRequestError("request body must be a JSON object");
  const st = pick(body, "state");
  let state: PaymentRequest["state"] = { State: new Uint8Array(0), Sig: new Uint8Array(0) };
  if (st !== undefined && st !== null) {
    if (!isObject(st)) throw new PaymentRequestError("state must be {State, Sig}");
    state = { State: bytes(st, "State", "state.State"), Sig: bytes(st, "Sig", "state.Sig") };
  }
  const inPixels = pick(body, "inPixels") ?? 0;
  if (typeof inPixels !== "number" || !Number.isSafeInteger(inPixels)) throw new PaymentRequestError("inPixels must be an integer");
  const type = text(body, "type");
  const out: PaymentRequest = {
    orchestrator: bytes(body, "orchestrator", "orchestrator"),
    state,
    manifestId: text(body, "ManifestID"),
    app: text(body, "app"),
    inPixels,
    type: (PAYMENT_TYPES as readonly string[]).includes(type) ? (type as PaymentType) : "invalid",
    capabilities: bytes(body, "capabilities", "capabilities"),
  };
  const mp = pick(body, "maxPrice");
  if (mp !== undefined && mp !== null) {
    if (!isObject(mp)) throw new PaymentRequestError("maxPrice must be {price, currency, unit}");
    const price = pick(mp, "price");
    if (typeof price !== "number" && typeof price !== "string") throw new PaymentRequestError("maxPrice.price must be a number");
    out.maxPrice = { price: String(price), currency: text(mp, "currency"), unit: text(mp, "unit") };
  }
  return out;
}
