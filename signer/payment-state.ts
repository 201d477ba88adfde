// The signed session state the signer hands the gateway (go-livepeer RemotePaymentState): JSON in
// go's field order, signed with personal_sign by the signer key, verified on every call. The gateway
// stores it opaquely; only this signer can read it back or vouch for it.
import { randomBytes } from "node:crypto";
import { toHex0x } from "../protocol/payments/address.ts";
import { verifyPersonalSignature, type MessageSigner } from "../protocol/payments/personal-sign.ts";
import { isObject, type PaymentType, type SignerState } from "../protocol/payments/remote-signer-wire.ts";

export interface RemotePaymentState {
  StateID: string;
  /** 0x hex of the recipient rand hash the nonces belong to. */
  PMSessionID: string;
  /** Unix ms of the last successful payment; 0 before the first. */
  LastUpdate: number;
  /** 0x + 40 lowercase hex. */
  OrchestratorAddress: string;
  App: string;
  /** Unix seconds until which the auth webhook is not asked again (0: ask). */
  AuthExpiry: number;
  /** Last ticket nonce used in PMSessionID. */
  SenderNonce: number;
  /** Credit at the orchestrator, wei, go's RatString ("5", "6000/7"). */
  Balance: string;
  InitialPricePerUnit: number;
  InitialPixelsPerUnit: number;
  Type: PaymentType;
  SequenceNumber: number;
  AuthID: string;
}

/** go's RandomManifestID: 4 random bytes as 8 hex digits. */
export function randomId(): string {
  return randomBytes(4).toString("hex");
}

export function newPaymentState(orchestratorAddress: Uint8Array, app: string, type: PaymentType, price: { pricePerUnit: number; pixelsPerUnit: number }): RemotePaymentState {
  return {
    StateID: randomId(),
    PMSessionID: "",
    LastUpdate: 0,
    OrchestratorAddress: toHex0x(orchestratorAddress),
    App: app,
    AuthExpiry: 0,
    SenderNonce: 0,
    Balance: "",
    InitialPricePerUnit: price.pricePerUnit,
    InitialPixelsPerUnit: price.pixelsPerUnit,
    Type: type,
    SequenceNumber: 0,
    AuthID: "",
  };
}

/** go marshals a zero time.Time as year 1. */
const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/** The state as go-livepeer's encoding/json writes it (same keys, same order; times RFC 3339). */
export function stateJson(s: RemotePaymentState): Record<string, unknown> {
  return {
    StateID: s.StateID,
    PMSessionID: s.PMSessionID,
    LastUpdate: s.LastUpdate > 0 ? new Date(s.LastUpdate).toISOString() : GO_ZERO_TIME,
    OrchestratorAddress: s.OrchestratorAddress,
    App: s.App,
    AuthExpiry: s.AuthExpiry,
    SenderNonce: s.SenderNonce,
    Balance: s.Balance,
    InitialPricePerUnit: s.InitialPricePerUnit,
    InitialPixelsPerUnit: s.InitialPixelsPerUnit,
    Type: s.Type,
    SequenceNumber: s.SequenceNumber,
    AuthID: s.AuthID,
  };
}

export function signPaymentState(s: RemotePaymentState, signer: MessageSigner): SignerState {
  const bytes = Buffer.from(JSON.stringify(stateJson(s)), "utf8");
  return { State: bytes.toString("base64"), Sig: Buffer.from(signer.sign(bytes)).toString("base64") };
}

export class PaymentStateError extends Error {
  constructor(message: "invalid sig" | "invalid state") {
    super(message);
    this.name = "PaymentStateError";
  }
}

const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): v is number => typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;

/**
 * Verify (signature first, as go) and decode a state. Throws PaymentStateError with go's messages:
 * "invalid sig" for a signature not by `signerAddress`, "invalid state" for anything unreadable.
 */
export function openPaymentState(raw: { State: Uint8Array; Sig: Uint8Array }, signerAddress: Uint8Array): RemotePaymentState {
  if (!verifyPersonalSignature(signerAddress, raw.State, raw.Sig)) throw new PaymentStateError("invalid sig");
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(raw.State).toString("utf8"));
  } catch {
    throw new PaymentStateError("invalid state");
  }
  if (!isObject(v)) throw new PaymentStateError("invalid state");
  const str = (k: string): string => {
    const x = v[k] ?? "";
    if (typeof x !== "string") throw new PaymentStateError("invalid state");
    return x;
  };
  const int = (k: string, min: number, max?: number): number => {
    const x = v[k] ?? 0;
    if (!isInt(x, min, max)) throw new PaymentStateError("invalid state");
    return x;
  };
  const last = str("LastUpdate") || GO_ZERO_TIME;
  const lastMs = Date.parse(last);
  if (Number.isNaN(lastMs)) throw new PaymentStateError("invalid state");
  const type = str("Type");
  if (type !== "" && type !== "lv2v" && type !== "live" && type !== "fixed") throw new PaymentStateError("invalid state");
  return {
    StateID: str("StateID"),
    PMSessionID: str("PMSessionID"),
    LastUpdate: lastMs > 0 ? lastMs : 0,
    OrchestratorAddress: str("OrchestratorAddress").toLowerCase(),
    App: str("App"),
    AuthExpiry: int("AuthExpiry", Number.MIN_SAFE_INTEGER),
    SenderNonce: int("SenderNonce", 0, 0xffffffff),
    Balance: str("Balance"),
    InitialPricePerUnit: int("InitialPricePerUnit", Number.MIN_SAFE_INTEGER),
    InitialPixelsPerUnit: int("InitialPixelsPerUnit", Number.MIN_SAFE_INTEGER),
    Type: type,
    SequenceNumber: int("SequenceNumber", 0),
    AuthID: str("AuthID"),
  };
}
