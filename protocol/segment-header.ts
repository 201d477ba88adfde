// The `Livepeer-Segment` / `Livepeer-Payment` request headers: base64 SegData
// and Payment (livepeer-wire.md sections 3 and 4).
import { keccak_256 } from "@noble/hashes/sha3.js";
import { buildBitstring, DEFAULT_TRANSCODE_JOB } from "./capabilities.ts";
import { decodeBase64, encodeBase64, type AuthToken, type Capabilities, type SegData, type VideoProfile } from "./messages.ts";
import { profilesForSegData } from "./profiles.ts";

export const SEGMENT_HEADER = "Livepeer-Segment";
export const PAYMENT_HEADER = "Livepeer-Payment";
export const AI_WORKER_AUTHORIZATION = "Livepeer-AI-Worker-1.0";

/** keccak-256 (Ethereum's, NOT FIPS SHA3-256) of the bytes. */
export function keccak256(data: Uint8Array): Buffer {
  return Buffer.from(keccak_256(data));
}

/** Off-chain payment header value: the empty string. */
export const OFFCHAIN_PAYMENT = "";

export interface SegmentHeaderInput {
  manifestId: string;
  seq: number;
  /** The segment bytes (hashed with keccak-256). */
  data: Uint8Array;
  /** Segment duration in ms. */
  durationMs: number;
  authToken: AuthToken;
  profiles: readonly VideoProfile[];
  /** Capabilities the job requires (default: H264 + MPEGTS + AuthToken). */
  capabilities?: Capabilities;
  calcPerceptualHash?: boolean;
  forceSessionReinit?: boolean;
}

/** The SegData go-livepeer sends for a transcoding segment (profiles in the field it would use). */
export function buildSegData(input: SegmentHeaderInput): SegData {
  const seg: SegData = {
    manifestId: Buffer.from(input.manifestId, "utf8"),
    seq: input.seq,
    hash: keccak256(input.data),
    profiles: Buffer.from("invalid", "utf8"),
    duration: Math.round(input.durationMs),
    capabilities: input.capabilities ?? { bitstring: buildBitstring(DEFAULT_TRANSCODE_JOB) },
    authToken: input.authToken,
    ...profilesForSegData(input.profiles),
  };
  if (input.calcPerceptualHash) seg.calcPerceptualHash = true;
  if (input.forceSessionReinit) seg.ForceSessionReinit = true;
  return seg;
}

/** Headers for `POST {transcoder}/segment` (off-chain). */
export function segmentRequestHeaders(input: SegmentHeaderInput): Record<string, string> {
  return {
    [SEGMENT_HEADER]: encodeBase64("SegData", buildSegData(input)),
    [PAYMENT_HEADER]: OFFCHAIN_PAYMENT,
    "Content-Type": "video/MP2T",
  };
}

/** manifestId for AI requests: "<capabilityId>_<modelId>". */
export function aiManifestId(capability: number, modelId: string): string {
  return `${capability}_${modelId}`;
}

/** SegData for batch AI / live-video-to-video requests: seq 0, hash of empty input. */
export function buildAiSegData(capability: number, modelId: string, authToken: AuthToken): SegData {
  return {
    manifestId: Buffer.from(aiManifestId(capability, modelId), "utf8"),
    seq: 0,
    hash: keccak256(new Uint8Array(0)),
    authToken,
  };
}

/** Per auth token (a new OrchestratorInfo brings a new token object): headers by "capability_model". */
const aiHeaderCache = new WeakMap<AuthToken, Map<string, Readonly<Record<string, string>>>>();

/**
 * Headers for AI requests (`POST {transcoder}/<pipeline>`, `/live-video-to-video`). A pure
 * function of its arguments, so it is computed once per (token, capability, model) and the
 * same frozen object is returned after that (spread it to add headers).
 */
export function aiRequestHeaders(capability: number, modelId: string, authToken: AuthToken): Readonly<Record<string, string>> {
  let byModel = aiHeaderCache.get(authToken);
  if (!byModel) aiHeaderCache.set(authToken, (byModel = new Map()));
  const id = aiManifestId(capability, modelId);
  let h = byModel.get(id);
  if (!h) {
    if (byModel.size >= 1024) byModel.clear();
    h = Object.freeze({
      [SEGMENT_HEADER]: encodeBase64("SegData", buildAiSegData(capability, modelId, authToken)),
      [PAYMENT_HEADER]: OFFCHAIN_PAYMENT,
      Authorization: AI_WORKER_AUTHORIZATION,
    });
    byModel.set(id, h);
  }
  return h;
}

/** Parse a `Livepeer-Segment` header value; throws DecodeError when malformed. */
export function parseSegmentHeader(value: string): SegData {
  return decodeBase64("SegData", value);
}

/** Parse the AI manifest id back into capability and model; undefined if not of that shape. */
export function parseAiManifestId(manifestId: Uint8Array | string): { capability: number; modelId: string } | undefined {
  const s = typeof manifestId === "string" ? manifestId : Buffer.from(manifestId).toString("utf8");
  const m = /^(\d+)_(.*)$/s.exec(s);
  if (!m) return undefined;
  return { capability: Number(m[1]), modelId: m[2]! };
}
