// Protobuf codec for the Livepeer wire messages (package `net`, lp_rpc.proto).
// protobufjs does the wire encoding; this module gives typed plain objects.
// Decoded objects use camelCase field names (protobufjs convention), int64
// fields become `number` (wei prices, unix seconds, seq) except capability
// bitstrings, which stay `bigint` because bit 63 does not fit a double.
// Unset message fields are absent (undefined), scalars carry their defaults.
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

export const PROTO_PATH = fileURLToPath(new URL("./lp_rpc.proto", import.meta.url));

const root = protobuf.loadSync(PROTO_PATH);
root.resolveAll();

// ---------------------------------------------------------------- types

export enum StorageType {
  DIRECT = 0,
  S3 = 1,
  GOOGLE = 2,
}
export enum VideoFormat {
  MPEGTS = 0,
  MP4 = 1,
}
export enum VideoProfileLevel {
  ENCODER_DEFAULT = 0,
  H264_BASELINE = 1,
  H264_MAIN = 2,
  H264_HIGH = 3,
  H264_CONSTRAINED_HIGH = 4,
}
export enum VideoCodec {
  H264 = 0,
  H265 = 1,
  VP8 = 2,
  VP9 = 3,
}
export enum ChromaSubsampling {
  CHROMA_420 = 0,
  CHROMA_422 = 1,
  CHROMA_444 = 2,
}

export interface PingPong {
  value?: Uint8Array;
}
export interface EndTranscodingSessionRequest {
  authToken?: AuthToken;
}
export type EndTranscodingSessionResponse = Record<string, never>;

export interface OrchestratorRequest {
  address?: Uint8Array;
  sig?: Uint8Array;
  capabilities?: Capabilities;
  ignoreCapacityCheck?: boolean;
}
export interface S3OSInfo {
  host?: string;
  key?: string;
  policy?: string;
  signature?: string;
  credential?: string;
  xAmzDate?: string;
}
export interface OSInfo {
  storageType?: StorageType;
  s3info?: S3OSInfo;
}
export interface PriceInfo {
  /** Wei per unit. */
  pricePerUnit?: number;
  pixelsPerUnit?: number;
  /** Capability id (0 for the transcoding price in price_info). */
  capability?: number;
  /** Model id for per-model prices. */
  constraint?: string;
}
export interface ModelConstraint {
  warm?: boolean;
  capacity?: number;
  runnerVersion?: string;
  capacityInUse?: number;
}
export interface CapabilityConstraints {
  models?: Record<string, ModelConstraint>;
}
export interface CapabilitiesConstraints {
  minVersion?: string;
  /** Keyed by capability id. */
  PerCapability?: Record<number, CapabilityConstraints>;
}
export interface Capabilities {
  bitstring?: bigint[];
  mandatories?: bigint[];
  /** capability id -> capacity */
  capacities?: Record<number, number>;
  version?: string;
  constraints?: CapabilitiesConstraints;
}
export interface GPUComputeInfo {
  id?: string;
  name?: string;
  major?: number;
  minor?: number;
  memoryFree?: number;
  memoryTotal?: number;
}
export interface HardwareInformation {
  pipeline?: string;
  modelId?: string;
  gpuInfo?: Record<string, GPUComputeInfo>;
}
export interface AuthToken {
  token?: Uint8Array;
  sessionId?: string;
  /** Unix seconds. */
  expiration?: number;
}
export interface TicketExpirationParams {
  creationRound?: number;
  creationRoundBlockHash?: Uint8Array;
}
export interface TicketParams {
  recipient?: Uint8Array;
  faceValue?: Uint8Array;
  winProb?: Uint8Array;
  recipientRandHash?: Uint8Array;
  seed?: Uint8Array;
  expirationBlock?: Uint8Array;
  expirationParams?: TicketExpirationParams;
}
export interface TicketSenderParams {
  senderNonce?: number;
  sig?: Uint8Array;
}
export interface Payment {
  ticketParams?: TicketParams;
  sender?: Uint8Array;
  expirationParams?: TicketExpirationParams;
  ticketSenderParams?: TicketSenderParams[];
  expectedPrice?: PriceInfo;
}
export interface OrchestratorInfo {
  transcoder?: string;
  ticketParams?: TicketParams;
  priceInfo?: PriceInfo;
  address?: Uint8Array;
  capabilities?: Capabilities;
  authToken?: AuthToken;
  hardware?: HardwareInformation[];
  storage?: OSInfo[];
  capabilitiesPrices?: PriceInfo[];
  nodes?: string[];
}
export interface SegmentParameters {
  /** Milliseconds. */
  from?: number;
  to?: number;
}
export interface VideoProfile {
  name?: string;
  width?: number;
  height?: number;
  /** Bits per second. */
  bitrate?: number;
  fps?: number;
  format?: VideoFormat;
  fpsDen?: number;
  profile?: VideoProfileLevel;
  gop?: number;
  encoder?: VideoCodec;
  colorDepth?: number;
  chromaFormat?: ChromaSubsampling;
  quality?: number;
}
export interface SegData {
  manifestId?: Uint8Array;
  seq?: number;
  hash?: Uint8Array;
  profiles?: Uint8Array;
  sig?: Uint8Array;
  /** Milliseconds. */
  duration?: number;
  capabilities?: Capabilities;
  authToken?: AuthToken;
  calcPerceptualHash?: boolean;
  storage?: OSInfo[];
  fullProfiles?: VideoProfile[];
  fullProfiles2?: VideoProfile[];
  fullProfiles3?: VideoProfile[];
  segmentParameters?: SegmentParameters;
  ForceSessionReinit?: boolean;
}
export interface TranscodedSegmentData {
  url?: string;
  pixels?: number;
  perceptualHashUrl?: string;
}
export interface TranscodeData {
  segments?: TranscodedSegmentData[];
  sig?: Uint8Array;
}
export interface TranscodeResult {
  seq?: number;
  /** oneof result: set exactly one of error / data. */
  error?: string;
  data?: TranscodeData;
  /** Which oneof member is set (filled on decode). */
  result?: "error" | "data";
  info?: OrchestratorInfo;
}
export interface PaymentResult {
  info?: OrchestratorInfo;
}

/** Message name -> TS type, for the generic codec. */
export interface MessageTypes {
  PingPong: PingPong;
  EndTranscodingSessionRequest: EndTranscodingSessionRequest;
  EndTranscodingSessionResponse: EndTranscodingSessionResponse;
  OrchestratorRequest: OrchestratorRequest;
  OSInfo: OSInfo;
  S3OSInfo: S3OSInfo;
  PriceInfo: PriceInfo;
  Capabilities: Capabilities;
  "Capabilities.Constraints": CapabilitiesConstraints;
  "Capabilities.CapabilityConstraints": CapabilityConstraints;
  "Capabilities.CapabilityConstraints.ModelConstraint": ModelConstraint;
  HardwareInformation: HardwareInformation;
  GPUComputeInfo: GPUComputeInfo;
  OrchestratorInfo: OrchestratorInfo;
  AuthToken: AuthToken;
  SegData: SegData;
  SegmentParameters: SegmentParameters;
  VideoProfile: VideoProfile;
  TranscodedSegmentData: TranscodedSegmentData;
  TranscodeData: TranscodeData;
  TranscodeResult: TranscodeResult;
  PaymentResult: PaymentResult;
  TicketParams: TicketParams;
  TicketExpirationParams: TicketExpirationParams;
  TicketSenderParams: TicketSenderParams;
  Payment: Payment;
}
export type MessageName = keyof MessageTypes;

// ---------------------------------------------------------------- codec

/** Fields that keep bigint on decode (64 capability bits per word). */
const BIGINT_FIELDS = new Set(["net.Capabilities.bitstring", "net.Capabilities.mandatories"]);
const LONG_TYPES = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"]);

const typeCache = new Map<string, protobuf.Type>();
export function messageType(name: MessageName): protobuf.Type {
  let t = typeCache.get(name);
  if (!t) {
    t = root.lookupType(`net.${name}`);
    typeCache.set(name, t);
  }
  return t;
}

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

/** Encode a typed message to protobuf bytes. Throws on values that do not fit the schema. */
export function encodeMessage<N extends MessageName>(name: N, value: MessageTypes[N]): Buffer {
  const t = messageType(name);
  const msg = t.fromObject(value as Record<string, unknown>);
  const bytes = t.encode(msg).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decode protobuf bytes into a typed plain object; throws DecodeError on malformed input. */
export function decodeMessage<N extends MessageName>(name: N, bytes: Uint8Array): MessageTypes[N] {
  const t = messageType(name);
  let msg: protobuf.Message;
  try {
    msg = t.decode(bytes);
  } catch (err) {
    throw new DecodeError(`malformed ${name}: ${(err as Error).message}`);
  }
  const obj = t.toObject(msg, {
    longs: BigInt,
    defaults: true,
    arrays: true,
    objects: true,
    oneofs: true,
  }) as Record<string, unknown>;
  return normalize(t, obj) as MessageTypes[N];
}

/** int64 -> number (except BIGINT_FIELDS), null message fields -> absent, recursively. */
function normalize(t: protobuf.Type, obj: Record<string, unknown>): Record<string, unknown> {
  for (const field of t.fieldsArray) {
    const key = field.name;
    const v = obj[key];
    if (v === null || v === undefined) {
      delete obj[key];
      continue;
    }
    const keepBig = BIGINT_FIELDS.has(`${t.fullName.slice(1)}.${key}`);
    const conv = (x: unknown): unknown => {
      if (typeof x === "bigint") return keepBig ? x : Number(x);
      if (field.resolvedType instanceof protobuf.Type && x && typeof x === "object") {
        return normalize(field.resolvedType, x as Record<string, unknown>);
      }
      return x;
    };
    if (field.map) {
      const m = v as Record<string, unknown>;
      for (const k of Object.keys(m)) m[k] = conv(m[k]);
    } else if (field.repeated) {
      obj[key] = (v as unknown[]).map(conv);
    } else if (LONG_TYPES.has(field.type) || field.resolvedType instanceof protobuf.Type) {
      obj[key] = conv(v);
    }
  }
  return obj;
}

/** base64 of an encoded message (header values). */
export function encodeBase64<N extends MessageName>(name: N, value: MessageTypes[N]): string {
  return encodeMessage(name, value).toString("base64");
}

/** Decode a base64 header value; throws DecodeError on bad base64 or protobuf. */
export function decodeBase64<N extends MessageName>(name: N, b64: string): MessageTypes[N] {
  const trimmed = b64.trim();
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(trimmed)) throw new DecodeError(`${name}: not base64`);
  return decodeMessage(name, Buffer.from(trimmed, "base64"));
}
