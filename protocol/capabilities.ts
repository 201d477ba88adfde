// Capability ids, the capability bitstring, and job/orchestrator compatibility
// (livepeer-wire.md section 2, go-livepeer core/capabilities.go).
import type { Capabilities, CapabilityConstraints, ModelConstraint } from "./messages.ts";

export enum Capability {
  H264 = 0,
  MPEGTS = 1,
  MP4 = 2,
  FractionalFramerates = 3,
  StorageDirect = 4,
  StorageS3 = 5,
  StorageGCS = 6,
  ProfileH264Baseline = 7,
  ProfileH264Main = 8,
  ProfileH264High = 9,
  ProfileH264ConstrainedHigh = 10,
  GOP = 11,
  AuthToken = 12,
  SceneClassification = 13,
  MPEG7VideoSignature = 14,
  HEVCDecode = 15,
  HEVCEncode = 16,
  VP8Decode = 17,
  VP9Decode = 18,
  VP8Encode = 19,
  VP9Encode = 20,
  H264Decode444_8bit = 21,
  H264Decode422_8bit = 22,
  H264Decode444_10bit = 23,
  H264Decode422_10bit = 24,
  H264Decode420_10bit = 25,
  SegmentSlicing = 26,
  TextToImage = 27,
  ImageToImage = 28,
  ImageToVideo = 29,
  Upscale = 30,
  AudioToText = 31,
  SegmentAnything2 = 32,
  LLM = 33,
  ImageToText = 34,
  LiveVideoToVideo = 35,
  TextToSpeech = 36,
  BYOC = 37,
}

/** The capabilities a plain transcoding orchestrator (go-livepeer with ffmpeg/libx264) advertises. */
export const TRANSCODING_CAPABILITIES: readonly Capability[] = [
  Capability.H264,
  Capability.MPEGTS,
  Capability.MP4,
  Capability.FractionalFramerates,
  Capability.StorageDirect,
  Capability.StorageS3,
  Capability.StorageGCS,
  Capability.ProfileH264Baseline,
  Capability.ProfileH264Main,
  Capability.ProfileH264High,
  Capability.ProfileH264ConstrainedHigh,
  Capability.GOP,
  Capability.AuthToken,
  Capability.SegmentSlicing,
];

/** What a gateway asks for when transcoding H.264 MPEG-TS segments (go-livepeer's default job). */
export const DEFAULT_TRANSCODE_JOB: readonly Capability[] = [
  Capability.H264,
  Capability.MPEGTS,
  Capability.AuthToken,
];

/** AI pipeline path name (as in `POST /<pipeline>`) <-> capability id. */
export const PIPELINE_CAPABILITIES: Readonly<Record<string, Capability>> = {
  "text-to-image": Capability.TextToImage,
  "image-to-image": Capability.ImageToImage,
  "image-to-video": Capability.ImageToVideo,
  upscale: Capability.Upscale,
  "audio-to-text": Capability.AudioToText,
  "segment-anything-2": Capability.SegmentAnything2,
  llm: Capability.LLM,
  "image-to-text": Capability.ImageToText,
  "live-video-to-video": Capability.LiveVideoToVideo,
  "text-to-speech": Capability.TextToSpeech,
};

export function pipelineToCapability(pipeline: string): Capability | undefined {
  return Object.hasOwn(PIPELINE_CAPABILITIES, pipeline) ? PIPELINE_CAPABILITIES[pipeline] : undefined;
}

export function capabilityToPipeline(cap: number): string | undefined {
  for (const [name, id] of Object.entries(PIPELINE_CAPABILITIES)) if (id === cap) return name;
  return undefined;
}

export function capabilityName(cap: number): string {
  return Capability[cap] ?? `Capability${cap}`;
}

// ---------------------------------------------------------------- bitstring

/** Capability N is bit N%64 of word N/64. */
export function buildBitstring(caps: Iterable<number>): bigint[] {
  const words: bigint[] = [];
  for (const c of caps) {
    if (!Number.isInteger(c) || c < 0) throw new RangeError(`invalid capability id ${c}`);
    const w = Math.floor(c / 64);
    while (words.length <= w) words.push(0n);
    words[w] = words[w]! | (1n << BigInt(c % 64));
  }
  return words;
}

export function hasCapability(bitstring: readonly bigint[] | undefined, cap: number): boolean {
  if (!bitstring) return false;
  const w = bitstring[Math.floor(cap / 64)];
  if (w === undefined) return false;
  return ((BigInt(w) >> BigInt(cap % 64)) & 1n) === 1n;
}

export function bitstringToList(bitstring: readonly bigint[] | undefined): number[] {
  const out: number[] = [];
  (bitstring ?? []).forEach((word, i) => {
    for (let b = 0; b < 64; b++) if ((BigInt(word) >> BigInt(b)) & 1n) out.push(i * 64 + b);
  });
  return out;
}

// ---------------------------------------------------------------- compatibility

/** Compare dotted versions ("0.9.1" vs "0.10"); a leading "v" and suffixes after "-" are ignored. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) =>
    v
      .replace(/^v/, "")
      .split("-")[0]!
      .split(".")
      .map((x) => Number.parseInt(x, 10) || 0);
  const pa = parse(a);
  const pb = parse(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export interface JobRequirements {
  capabilities: readonly number[];
  /** capability id -> model ids required. */
  models?: Readonly<Record<number, readonly string[]>>;
  /** Require the listed models to be warm. */
  warm?: boolean;
  /** The job's (gateway's) version, checked against the orchestrator's minVersion. */
  version?: string;
}

export type IncompatibleReason =
  | { kind: "missing-capability"; capability: number }
  | { kind: "mandatory-not-requested"; capability: number }
  | { kind: "version"; minVersion: string }
  | { kind: "missing-model"; capability: number; model: string }
  | { kind: "cold-model"; capability: number; model: string };

/**
 * Whether a job fits an orchestrator: every job bit set at the orchestrator, every
 * mandatory orchestrator bit in the job, version >= minVersion, each requested
 * model listed (and warm if asked). Returns undefined when compatible.
 */
export function checkCompatible(orch: Capabilities | undefined, job: JobRequirements): IncompatibleReason | undefined {
  const bits = orch?.bitstring ?? [];
  for (const c of job.capabilities) {
    if (!hasCapability(bits, c)) return { kind: "missing-capability", capability: c };
  }
  const jobSet = new Set(job.capabilities);
  for (const c of bitstringToList(orch?.mandatories)) {
    if (!jobSet.has(c)) return { kind: "mandatory-not-requested", capability: c };
  }
  const minVersion = orch?.constraints?.minVersion;
  if (minVersion && job.version !== undefined && compareVersions(job.version, minVersion) < 0) {
    return { kind: "version", minVersion };
  }
  for (const [capStr, models] of Object.entries(job.models ?? {})) {
    const cap = Number(capStr);
    for (const model of models) {
      const mc = modelConstraint(orch, cap, model);
      if (!mc) return { kind: "missing-model", capability: cap, model };
      if (job.warm && !mc.warm) return { kind: "cold-model", capability: cap, model };
    }
  }
  return undefined;
}

export function capabilityConstraints(orch: Capabilities | undefined, cap: number): CapabilityConstraints | undefined {
  const per = orch?.constraints?.PerCapability as Record<string, CapabilityConstraints> | undefined;
  return per?.[String(cap)];
}

export function modelConstraint(orch: Capabilities | undefined, cap: number, model: string): ModelConstraint | undefined {
  const models = capabilityConstraints(orch, cap)?.models;
  return models && Object.hasOwn(models, model) ? models[model] : undefined;
}

/** Capacity advertised for a capability (the capacities map), undefined when not advertised. */
export function capabilityCapacity(orch: Capabilities | undefined, cap: number): number | undefined {
  const m = orch?.capacities as Record<string, number> | undefined;
  return m && Object.hasOwn(m, String(cap)) ? m[String(cap)] : undefined;
}

/**
 * The Capabilities a gateway sends in GetOrchestrator for one model of one capability, so the
 * orchestrator answers with that model's price in price_info and ticket params made for it.
 */
export function modelJobCapabilities(capability: number, modelId: string): Capabilities {
  return {
    bitstring: buildBitstring([capability]),
    capacities: { [capability]: 1 },
    constraints: { PerCapability: { [capability]: { models: { [modelId]: {} } } } },
  };
}
