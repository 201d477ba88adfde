// The remote signer's HTTP protocol (go-livepeer server/remote_signer.go): paths, statuses,
// headers and JSON shapes, with checks of what comes over the wire. Shared by the gateway's
// client and the development signer. Byte fields are standard base64 (Go's encoding/json []byte).

export const SIGN_ORCHESTRATOR_INFO_PATH = "/sign-orchestrator-info";
export const GENERATE_LIVE_PAYMENT_PATH = "/generate-live-payment";
export const DISCOVER_ORCHESTRATORS_PATH = "/discover-orchestrators";
/**
 * Wharf's signer only (go-livepeer's has no such call): the signature a BYOC job carries,
 * personal_sign(keccak256(request + parameters)) (protocol/apps/byoc.ts). Body {request, parameters},
 * answer {address, signature}.
 */
export const SIGN_BYOC_JOB_PATH = "/sign-byoc-job";
/** A job's request and parameters, together, at most this many bytes (UTF-8). */
export const MAX_BYOC_JOB_SIGNED_BYTES = 64 * 1024;

/** Refresh the session: fetch fresh OrchestratorInfo (GetOrchestrator) and retry. */
export const STATUS_REFRESH_SESSION = 480;
/** The orchestrator's price is above a ceiling: pick another orchestrator. */
export const STATUS_PRICE_EXCEEDED = 481;
/** The session's credit covers this cycle: no tickets, no new state (keep the old one). */
export const STATUS_NO_TICKETS = 482;

/** Names the orchestrator to refresh on a 480. */
export const ORCHESTRATOR_URL_HEADER = "Livepeer-Orchestrator-URL";
/** Optional request header: an auth id stored in the state (the auth webhook's auth_id wins). */
export const SIGNER_AUTH_ID_HEADER = "Signer-Auth-Id";

/** How the signer bills a call: lv2v by 720p30 time, live by seconds, fixed per call, "" by inPixels. */
export type PaymentType = "lv2v" | "live" | "fixed" | "";
export const PAYMENT_TYPES: readonly PaymentType[] = ["lv2v", "live", "fixed", ""];

/** The unit a maxPrice must name for each type (the value itself is compared with pricePerUnit/pixelsPerUnit, unscaled). */
export const MAX_PRICE_UNIT: Readonly<Record<Exclude<PaymentType, "">, string>> = {
  live: "seconds",
  lv2v: "720p-pixel-seconds",
  fixed: "fixed",
};

export interface MaxPrice {
  /** A positive decimal (JSON number or string), wei. */
  price: string | number;
  currency: "wei";
  unit: string;
}

/** The signed, opaque session state: store it, send it back, never look inside. */
export interface SignerState {
  State: string;
  Sig: string;
}

/** Body of POST /generate-live-payment (key spelling as go-livepeer's gateway sends it). */
export interface RemotePaymentRequestBody {
  orchestrator: string;
  state?: SignerState;
  ManifestID?: string;
  type?: PaymentType;
  inPixels?: number;
  capabilities?: string;
  app?: string;
  maxPrice?: MaxPrice;
}

export interface RemotePaymentResponseBody {
  /** base64 protobuf Payment: the `Livepeer-Payment` header value. */
  payment: string;
  /** base64 protobuf SegData: the `Livepeer-Segment` header value. */
  segCreds?: string;
  state: SignerState;
}

export interface OrchestratorInfoSignatureBody {
  /** EIP-55 checksummed signer address. */
  address: string;
  /** 0x + 65-byte hex. */
  signature: string;
}

export interface DiscoveredOrchestrator {
  /** The orchestrator's service URL. */
  address: string;
  score?: number;
  /** "<pipeline>/<model>" entries. */
  capabilities?: string[];
}

export interface SignerErrorBody {
  error: { message: string };
}

export function signerErrorBody(message: string): SignerErrorBody {
  return { error: { message } };
}

/** The `error.message` of a signer error body, if it is one. */
export function signerErrorMessage(body: unknown): string | undefined {
  if (!isObject(body) || !isObject(body.error)) return undefined;
  return typeof body.error.message === "string" ? body.error.message : undefined;
}

export class WireShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WireShapeError";
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decode standard base64 strictly (what Go's encoding/json accepts for []byte); undefined if it is not. */
export function decodeStdBase64(s: string): Uint8Array | undefined {
  if (s.length % 4 !== 0 || !BASE64.test(s)) return undefined;
  return Uint8Array.from(Buffer.from(s, "base64"));
}

function hexBytes(v: unknown, what: string): Uint8Array {
  if (typeof v !== "string" || !/^(0x)?([0-9a-fA-F]{2})*$/.test(v)) throw new WireShapeError(`${what} is not hex`);
  return Uint8Array.from(Buffer.from(v.replace(/^0x/, ""), "hex"));
}

export interface OrchestratorInfoSignature {
  address: Uint8Array;
  /** The address as the signer wrote it. */
  addressText: string;
  signature: Uint8Array;
}

export function parseOrchestratorInfoSignature(body: unknown): OrchestratorInfoSignature {
  if (!isObject(body)) throw new WireShapeError("sign-orchestrator-info answer is not a JSON object");
  const address = hexBytes(body.address, "address");
  if (address.length !== 20) throw new WireShapeError(`address is ${address.length} bytes, not 20`);
  const signature = hexBytes(body.signature, "signature");
  if (signature.length !== 65) throw new WireShapeError(`signature is ${signature.length} bytes, not 65`);
  return { address, addressText: body.address as string, signature };
}

export function parseSignerState(v: unknown): SignerState {
  if (!isObject(v) || typeof v.State !== "string" || typeof v.Sig !== "string" || !decodeStdBase64(v.State) || !decodeStdBase64(v.Sig) || v.State === "") {
    throw new WireShapeError("state is not {State: base64, Sig: base64}");
  }
  return { State: v.State, Sig: v.Sig };
}

export function parseRemotePaymentResponse(body: unknown): RemotePaymentResponseBody {
  if (!isObject(body)) throw new WireShapeError("generate-live-payment answer is not a JSON object");
  if (typeof body.payment !== "string" || body.payment === "" || !decodeStdBase64(body.payment)) throw new WireShapeError("payment is not a non-empty base64 string");
  if (body.segCreds !== undefined && (typeof body.segCreds !== "string" || !decodeStdBase64(body.segCreds))) throw new WireShapeError("segCreds is not base64");
  const out: RemotePaymentResponseBody = { payment: body.payment, state: parseSignerState(body.state) };
  if (typeof body.segCreds === "string") out.segCreds = body.segCreds;
  return out;
}

export function parseDiscoveredOrchestrators(body: unknown): DiscoveredOrchestrator[] {
  if (!Array.isArray(body)) throw new WireShapeError("discover-orchestrators answer is not a JSON list");
  const out: DiscoveredOrchestrator[] = [];
  for (const item of body) {
    if (!isObject(item) || typeof item.address !== "string" || item.address.trim() === "") continue;
    const o: DiscoveredOrchestrator = { address: item.address.trim() };
    if (typeof item.score === "number") o.score = item.score;
    if (Array.isArray(item.capabilities)) o.capabilities = item.capabilities.filter((c): c is string => typeof c === "string");
    out.push(o);
  }
  return out;
}
