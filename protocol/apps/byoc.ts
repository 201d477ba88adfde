// go-livepeer's BYOC job protocol between a gateway and an orchestrator (byoc/ in go-livepeer):
//
//   GET  {orchestrator}/process/token     Livepeer-Eth-Address: base64 JSON {addr, sig}   (sig: the
//        sender's signature of its own EIP-55 address, as in OrchestratorRequest)
//                                          Livepeer-Capability: <name>
//     -> 200 JobToken JSON: ticket params for this sender (none off-chain), the capability's price
//        (wei per second, 0 off-chain), the sender's balance for it, the orchestrator's service
//        address, its free capacity (0, and price 0, for a capability it does not host).
//        400 (bad sender header, no capability header), 503 (sender reserve).
//   POST {service_addr}/process/request/{path}
//                                          Livepeer: base64 JSON JobRequest, signed: sig =
//        personal_sign(keccak256(request + parameters)) by `sender`
//                                          Livepeer-Payment: base64 protobuf Payment (tickets), optional
//     -> the container's answer (its errors as plain text); 400 "Could not verify job creds" /
//        "Insufficient balance for request", 503 "No capacity available for capability" (a capability
//        it does not host), 500 "job not able to be processed..." (the container unreachable). go's
//        orchestrator closes the connection without an answer when it refuses the tickets.
//
// The orchestrator keeps a balance per (sender, capability) and starts a job only while it holds a
// minute of the price; it debits whole seconds of compute after. An off-chain go-livepeer
// orchestrator verifies no signature (its VerifySig answers true), an on-chain one verifies both.
// Field names and JSON shapes are go's encoding/json of those structs (protobuf messages by their
// json tags, bytes base64, int64 numbers).
import { keccak_256 } from "@noble/hashes/sha3.js";
import type { PriceInfo, TicketParams } from "../messages.ts";
import { MAX_BYOC_JOB_SIGNED_BYTES, WireShapeError } from "../payments/remote-signer-wire.ts";

export const JOB_SENDER_HEADER = "Livepeer-Eth-Address";
export const JOB_CAPABILITY_HEADER = "Livepeer-Capability";
export const JOB_PAYMENT_HEADER = "Livepeer-Payment";
/** The orchestrator's balance for the sender after a job (whole wei). */
export const JOB_BALANCE_HEADER = "Livepeer-Balance";
export const JOB_TOKEN_PATH = "/process/token";
/** The orchestrator refuses a job while the balance holds less than this many seconds of the price. */
export const JOB_MIN_BALANCE_SECONDS = 60;
/** go-livepeer's orchestrator answers for a bad signature or an unreadable job header. */
export const JOB_CREDS_ERROR = "Could not verify job creds";
export const JOB_BALANCE_ERROR = "Insufficient balance for request";
export const JOB_PAYMENT_ERROR = "Could not parse payment";
export const JOB_CAPACITY_ERROR = "No capacity available for capability";
export const JOB_TIMEOUT_ERROR = "no timeout_seconds set with request, timeout_seconds is required";

/** Who asks for a token: the sender's address and its signature of that address text. */
export interface JobSender {
  addr: string;
  sig: string;
}

export interface JobToken {
  senderAddress?: JobSender;
  ticketParams?: TicketParams;
  /** The sender's balance for the capability at the orchestrator, whole wei. */
  balance: bigint;
  price?: Required<Pick<PriceInfo, "pricePerUnit" | "pixelsPerUnit">>;
  serviceAddr: string;
  availableCapacity: number;
}

/** The job header the orchestrator gets (go's JobRequest, field order kept). */
export interface SignedJobRequest {
  id: string;
  request: string;
  parameters: string;
  capability: string;
  sender: string;
  sig: string;
  timeout_seconds: number;
}

const b64 = (bytes: Uint8Array | undefined): string | undefined => (bytes && bytes.length > 0 ? Buffer.from(bytes).toString("base64") : undefined);

export function encodeJobSender(s: JobSender): string {
  return Buffer.from(JSON.stringify({ addr: s.addr, sig: s.sig })).toString("base64");
}

/** Throws WireShapeError. */
export function parseJobSender(header: string | undefined): JobSender {
  if (!header) throw new WireShapeError(`missing ${JOB_SENDER_HEADER} header`);
  let o: Partial<JobSender> | null;
  try {
    o = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as Partial<JobSender> | null;
  } catch {
    throw new WireShapeError(`${JOB_SENDER_HEADER} is not base64 JSON`);
  }
  if (!o || typeof o.addr !== "string" || typeof o.sig !== "string") throw new WireShapeError(`${JOB_SENDER_HEADER} lacks addr or sig`);
  return { addr: o.addr, sig: o.sig };
}

/**
 * Whether a job's `request` is what go's orchestrator can read: it unmarshals it into
 * {stream_id: string} after taking the payment and a slot, and on failure frees neither. go also
 * takes `null`; Wharf sends (and its signer signs) objects only.
 */
export function isJobRequestText(request: unknown, opts: { allowNull?: boolean } = {}): request is string {
  if (typeof request !== "string") return false;
  let v: unknown;
  try {
    v = JSON.parse(request);
  } catch {
    return false;
  }
  if (v === null) return opts.allowNull === true;
  if (typeof v !== "object" || Array.isArray(v)) return false;
  const id = (v as { stream_id?: unknown }).stream_id;
  return id === undefined || id === null || typeof id === "string";
}

/**
 * What the signer agrees to sign as a BYOC job: `request` a JSON object (go's orchestrator reads
 * it as one), `parameters` empty or JSON, no NUL character in either. The signature is the same
 * kind as a ticket's (personal_sign of a keccak256), so the signer must never sign bytes that
 * could be a ticket: a ticket's flattened bytes hold its uint32 sender nonce padded to 32 bytes
 * (at least 28 zero bytes), segment credentials their int64 sequence number padded to 32, so
 * neither is ever free of NUL. Returns why not, or undefined.
 */
export function byocJobSigningRefusal(request: unknown, parameters: unknown): string | undefined {
  if (typeof request !== "string" || typeof parameters !== "string") return "expected {request: string, parameters: string}";
  if (Buffer.byteLength(request) + Buffer.byteLength(parameters) > MAX_BYOC_JOB_SIGNED_BYTES) return `request and parameters exceed ${MAX_BYOC_JOB_SIGNED_BYTES} bytes`;
  if (request.includes("\0") || parameters.includes("\0")) return "request and parameters may not contain NUL";
  if (!isJobRequestText(request)) return "request is not a JSON object (with a string stream_id, if any)";
  try {
    if (parameters.trim() !== "") JSON.parse(parameters);
  } catch {
    return "parameters is not JSON";
  }
  return undefined;
}

/** The 32-byte hash a job's sender personal-signs (go: Sign(keccak256(request + parameters))). */
export function jobSignedMessage(request: string, parameters: string): Uint8Array {
  return keccak_256(new TextEncoder().encode(request + parameters));
}

export function encodeSignedJob(j: SignedJobRequest): string {
  // go's JobRequest marshals every field; the two search timeouts are the gateway's own (zero here).
  const go = { id: j.id, request: j.request, parameters: j.parameters, capability: j.capability, capability_url: "", sender: j.sender, sig: j.sig, timeout_seconds: j.timeout_seconds, OrchSearchTimeout: 0, OrchSearchRespTimeout: 0 };
  return Buffer.from(JSON.stringify(go)).toString("base64");
}

/** The orchestrator's reading of a job header. Throws WireShapeError. */
export function parseSignedJob(header: string | undefined): SignedJobRequest {
  if (!header) throw new WireShapeError("missing Livepeer header");
  let o: Record<string, unknown> | null;
  try {
    o = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as Record<string, unknown> | null;
  } catch {
    throw new WireShapeError("Livepeer header is not base64 JSON");
  }
  if (!o || typeof o !== "object") throw new WireShapeError("Livepeer header is not a JSON object");
  const str = (k: string) => (typeof o![k] === "string" ? (o![k] as string) : "");
  const timeout = o.timeout_seconds;
  return { id: str("id"), request: str("request"), parameters: str("parameters"), capability: str("capability"), sender: str("sender"), sig: str("sig"), timeout_seconds: typeof timeout === "number" && Number.isInteger(timeout) ? timeout : 0 };
}

/** Bytes of a JSON field (go encodes []byte as standard base64), of `size` bytes or at most `max`. */
function bytesOf(v: unknown, where: string, len: { size?: number; max?: number }): Uint8Array | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length > 1024) throw new WireShapeError(`${where} is not base64 bytes`);
  const b = new Uint8Array(Buffer.from(v, "base64"));
  if ((len.size !== undefined && b.length !== len.size) || (len.max !== undefined && b.length > len.max)) throw new WireShapeError(`${where} is ${b.length} bytes`);
  return b;
}

const WORD = { max: 32 };

function int64Of(v: unknown, where: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new WireShapeError(`${where} is not an integer`);
  return v;
}

/**
 * go writes the balance as an int64 of wei, which JSON.parse reads exactly only up to 2^53 (about
 * 0.009 ETH): a larger one is taken as the double it parsed to, a lower bound within a part in 2^53.
 */
function balanceOf(v: unknown): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v !== "number" || !Number.isFinite(v) || (Number.isSafeInteger(v) === false && Math.abs(v) < Number.MAX_SAFE_INTEGER)) throw new WireShapeError("balance is not an integer");
  return BigInt(Math.trunc(v));
}

/** A token answer as go encodes it. Throws WireShapeError. */
export function parseJobToken(json: unknown): JobToken {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new WireShapeError("job token is not a JSON object");
  const o = json as Record<string, unknown>;
  const tp = o.ticket_params as Record<string, unknown> | null | undefined;
  let ticketParams: TicketParams | undefined;
  if (tp !== undefined && tp !== null) {
    if (typeof tp !== "object") throw new WireShapeError("ticket_params is not an object");
    const ep = tp.expiration_params as Record<string, unknown> | null | undefined;
    // Shapes a signer can make tickets of: anything else would be its 400, not this orchestrator's fault.
    ticketParams = {
      recipient: bytesOf(tp.recipient, "ticket_params.recipient", { size: 20 }),
      faceValue: bytesOf(tp.face_value, "ticket_params.face_value", WORD),
      winProb: bytesOf(tp.win_prob, "ticket_params.win_prob", WORD),
      recipientRandHash: bytesOf(tp.recipient_rand_hash, "ticket_params.recipient_rand_hash", { size: 32 }),
      seed: bytesOf(tp.seed, "ticket_params.seed", WORD),
      expirationBlock: bytesOf(tp.expiration_block, "ticket_params.expiration_block", WORD),
      expirationParams: ep && typeof ep === "object" ? { creationRound: int64Of(ep.creation_round, "creation_round"), creationRoundBlockHash: bytesOf(ep.creation_round_block_hash, "creation_round_block_hash", { size: 32 }) } : undefined,
    };
    if (!ticketParams.recipient || !ticketParams.recipientRandHash || !ticketParams.faceValue?.some((x) => x !== 0) || !ticketParams.winProb?.some((x) => x !== 0)) {
      throw new WireShapeError("ticket_params lack a recipient, rand hash, face value or win probability");
    }
  }
  const p = o.price as Record<string, unknown> | null | undefined;
  let price: JobToken["price"];
  if (p !== undefined && p !== null) {
    if (typeof p !== "object") throw new WireShapeError("price is not an object");
    price = { pricePerUnit: int64Of(p.pricePerUnit, "price.pricePerUnit"), pixelsPerUnit: int64Of(p.pixelsPerUnit, "price.pixelsPerUnit") };
    if (price.pricePerUnit < 0 || (price.pricePerUnit > 0 && price.pixelsPerUnit <= 0)) throw new WireShapeError(`price ${price.pricePerUnit}/${price.pixelsPerUnit} is not a price`);
  }
  const s = o.sender_address as Record<string, unknown> | null | undefined;
  const serviceAddr = o.service_addr ?? "";
  if (typeof serviceAddr !== "string" || serviceAddr.length > 2048) throw new WireShapeError("service_addr is not a URL");
  return {
    senderAddress: s && typeof s.addr === "string" && typeof s.sig === "string" ? { addr: s.addr, sig: s.sig } : undefined,
    ticketParams,
    balance: balanceOf(o.balance),
    price,
    serviceAddr,
    availableCapacity: int64Of(o.available_capacity, "available_capacity"),
  };
}

/** A token as go's orchestrator writes it (omitempty: zero values left out). */
export function jobTokenJson(t: JobToken): Record<string, unknown> {
  const tp = t.ticketParams;
  const ep = tp?.expirationParams;
  const out: Record<string, unknown> = {};
  if (t.senderAddress) out.sender_address = t.senderAddress;
  if (tp) {
    out.ticket_params = {
      recipient: b64(tp.recipient),
      face_value: b64(tp.faceValue),
      win_prob: b64(tp.winProb),
      recipient_rand_hash: b64(tp.recipientRandHash),
      seed: b64(tp.seed),
      expiration_block: b64(tp.expirationBlock),
      expiration_params: ep ? { creation_round: ep.creationRound || undefined, creation_round_block_hash: b64(ep.creationRoundBlockHash) } : undefined,
    };
  }
  // Past 2^53 a JSON number is not exact: the largest exact one is written (ample for a gateway's check).
  if (t.balance !== 0n) out.balance = Number(t.balance > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : t.balance);
  if (t.price) out.price = { pricePerUnit: t.price.pricePerUnit || undefined, pixelsPerUnit: t.price.pixelsPerUnit || undefined };
  if (t.serviceAddr) out.service_addr = t.serviceAddr;
  if (t.availableCapacity) out.available_capacity = t.availableCapacity;
  out.LastNonce = 0;
  return out;
}
