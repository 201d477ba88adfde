// The batch AI API contract (Livepeer's public AI gateway API) as data: the nine pipelines, their
// fields, defaults, limits, default models and billing units, plus a small
// validator that coerces multipart form strings and checks JSON bodies strictly.
// Used by the gateway (server/ai) and by the development orchestrator
// (orchestrator/ai), so both sides agree on names, defaults and messages.
import { Capability } from "../capabilities.ts";

export type AiPipeline =
  | "text-to-image"
  | "image-to-image"
  | "image-to-video"
  | "upscale"
  | "audio-to-text"
  | "llm"
  | "segment-anything-2"
  | "image-to-text"
  | "text-to-speech";

export const AI_PIPELINES: readonly AiPipeline[] = [
  "text-to-image",
  "image-to-image",
  "image-to-video",
  "upscale",
  "audio-to-text",
  "llm",
  "segment-anything-2",
  "image-to-text",
  "text-to-speech",
];

export type FieldType = "string" | "integer" | "number" | "boolean" | "json" | "file" | "messages";

export interface FieldSpec {
  name: string;
  type: FieldType;
  /** Missing = 422 "Field required". */
  required?: boolean;
  default?: string | number | boolean;
  min?: number;
  max?: number;
  /** Strings: allowed values. */
  enum?: readonly string[];
  maxLength?: number;
}

export type ResultKind = "images" | "video" | "text" | "chunks" | "llm" | "masks" | "audio";

export interface PipelineSpec {
  pipeline: AiPipeline;
  capability: Capability;
  defaultModel: string;
  /** Models Livepeer's documentation and public gateways use for this pipeline (the default first). */
  knownModels: readonly string[];
  body: "json" | "multipart";
  /** Field that names the model ("model" for /llm). */
  modelField: "model_id" | "model";
  fields: readonly FieldSpec[];
  /** The uploaded file part, for multipart pipelines. */
  file?: "image" | "audio";
  result: ResultKind;
}

export const DEFAULT_TTS_DESCRIPTION =
  "A male speaker delivers a slightly expressive and animated speech with a moderate speed and pitch.";

const MODEL: FieldSpec = { name: "model_id", type: "string", default: "", maxLength: 256 };
const SEED: FieldSpec = { name: "seed", type: "integer", min: 0, max: 2 ** 32 - 1 };
const SAFETY: FieldSpec = { name: "safety_check", type: "boolean", default: true };
const PROMPT_REQ: FieldSpec = { name: "prompt", type: "string", required: true, maxLength: 20_000 };
const IMAGE: FieldSpec = { name: "image", type: "file", required: true };
const DIM = (name: string, def: number): FieldSpec => ({ name, type: "integer", default: def, min: 8, max: 4096 });
const STEPS = (def: number): FieldSpec => ({ name: "num_inference_steps", type: "integer", default: def, min: 1, max: 1000 });
const NUM_IMAGES: FieldSpec = { name: "num_images_per_prompt", type: "integer", default: 1, min: 1, max: 16 };

export const PIPELINE_SPECS: Readonly<Record<AiPipeline, PipelineSpec>> = {
  "text-to-image": {
    pipeline: "text-to-image",
    capability: Capability.TextToImage,
    defaultModel: "stabilityai/sdxl-turbo",
    knownModels: ["stabilityai/sdxl-turbo", "SG161222/RealVisXL_V4.0_Lightning", "ByteDance/SDXL-Lightning", "stabilityai/stable-diffusion-3-medium-diffusers", "black-forest-labs/FLUX.1-schnell", "black-forest-labs/FLUX.1-dev"],
    body: "json",
    modelField: "model_id",
    result: "images",
    fields: [
      MODEL,
      PROMPT_REQ,
      { name: "loras", type: "string", default: "", maxLength: 10_000 },
      DIM("height", 576),
      DIM("width", 1024),
      { name: "guidance_scale", type: "number", default: 7.5, min: 0, max: 100 },
      { name: "negative_prompt", type: "string", default: "", maxLength: 20_000 },
      SAFETY,
      SEED,
      STEPS(50),
      NUM_IMAGES,
    ],
  },
  "image-to-image": {
    pipeline: "image-to-image",
    capability: Capability.ImageToImage,
    defaultModel: "stabilityai/sdxl-turbo",
    knownModels: ["stabilityai/sdxl-turbo", "timbrooks/instruct-pix2pix", "ByteDance/SDXL-Lightning", "SG161222/RealVisXL_V4.0_Lightning"],
    body: "multipart",
    modelField: "model_id",
    file: "image",
    result: "images",
    fields: [
      PROMPT_REQ,
      IMAGE,
      MODEL,
      { name: "loras", type: "string", default: "", maxLength: 10_000 },
      { name: "strength", type: "number", default: 0.8, min: 0, max: 1 },
      { name: "guidance_scale", type: "number", default: 7.5, min: 0, max: 100 },
      { name: "image_guidance_scale", type: "number", default: 1.5, min: 0, max: 100 },
      { name: "negative_prompt", type: "string", default: "", maxLength: 20_000 },
      SAFETY,
      SEED,
      STEPS(100),
      NUM_IMAGES,
    ],
  },
  "image-to-video": {
    pipeline: "image-to-video",
    capability: Capability.ImageToVideo,
    defaultModel: "stabilityai/stable-video-diffusion-img2vid-xt",
    knownModels: ["stabilityai/stable-video-diffusion-img2vid-xt", "stabilityai/stable-video-diffusion-img2vid-xt-1-1"],
    body: "multipart",
    modelField: "model_id",
    file: "image",
    result: "video",
    fields: [
      IMAGE,
      MODEL,
      DIM("height", 576),
      DIM("width", 1024),
      { name: "fps", type: "integer", default: 6, min: 1, max: 60 },
      { name: "motion_bucket_id", type: "integer", default: 127, min: 0, max: 1023 },
      { name: "noise_aug_strength", type: "number", default: 0.02, min: 0, max: 10 },
      SAFETY,
      SEED,
      STEPS(25),
    ],
  },
  upscale: {
    pipeline: "upscale",
    capability: Capability.Upscale,
    defaultModel: "stabilityai/stable-diffusion-x4-upscaler",
    knownModels: ["stabilityai/stable-diffusion-x4-upscaler"],
    body: "multipart",
    modelField: "model_id",
    file: "image",
    result: "images",
    fields: [PROMPT_REQ, IMAGE, MODEL, SAFETY, SEED, STEPS(75)],
  },
  "audio-to-text": {
    pipeline: "audio-to-text",
    capability: Capability.AudioToText,
    defaultModel: "openai/whisper-large-v3",
    knownModels: ["openai/whisper-large-v3"],
    body: "multipart",
    modelField: "model_id",
    file: "audio",
    result: "chunks",
    fields: [
      { name: "audio", type: "file", required: true },
      MODEL,
      { name: "return_timestamps", type: "string", default: "true", enum: ["true", "sentence", "false", "word"] },
    ],
  },
  llm: {
    pipeline: "llm",
    capability: Capability.LLM,
    defaultModel: "meta-llama/llama-3.1-8B-Instruct",
    knownModels: ["meta-llama/llama-3.1-8B-Instruct", "meta-llama/Meta-Llama-3.1-8B-Instruct"],
    body: "json",
    modelField: "model",
    result: "llm",
    fields: [
      { name: "messages", type: "messages", required: true },
      { name: "model", type: "string", default: "", maxLength: 256 },
      { name: "temperature", type: "number", default: 0.7, min: 0, max: 2 },
      { name: "max_tokens", type: "integer", default: 256, min: 1, max: 32_768 },
      { name: "top_p", type: "number", default: 1.0, min: 0, max: 1 },
      { name: "top_k", type: "integer", default: -1, min: -1 },
      { name: "stream", type: "boolean", default: false },
    ],
  },
  "segment-anything-2": {
    pipeline: "segment-anything-2",
    capability: Capability.SegmentAnything2,
    defaultModel: "facebook/sam2-hiera-large",
    knownModels: ["facebook/sam2-hiera-large", "facebook/sam2-hiera-base-plus", "facebook/sam2-hiera-small", "facebook/sam2-hiera-tiny"],
    body: "multipart",
    modelField: "model_id",
    file: "image",
    result: "masks",
    fields: [
      IMAGE,
      MODEL,
      { name: "point_coords", type: "json" },
      { name: "point_labels", type: "json" },
      { name: "box", type: "json" },
      { name: "mask_input", type: "json" },
      { name: "multimask_output", type: "boolean", default: true },
      { name: "return_logits", type: "boolean", default: true },
      { name: "normalize_coords", type: "boolean", default: true },
    ],
  },
  "image-to-text": {
    pipeline: "image-to-text",
    capability: Capability.ImageToText,
    defaultModel: "Salesforce/blip-image-captioning-large",
    knownModels: ["Salesforce/blip-image-captioning-large"],
    body: "multipart",
    modelField: "model_id",
    file: "image",
    result: "text",
    fields: [IMAGE, { name: "prompt", type: "string", default: "", maxLength: 20_000 }, MODEL],
  },
  "text-to-speech": {
    pipeline: "text-to-speech",
    capability: Capability.TextToSpeech,
    defaultModel: "parler-tts/parler-tts-large-v1",
    knownModels: ["parler-tts/parler-tts-large-v1"],
    body: "json",
    modelField: "model_id",
    result: "audio",
    fields: [
      MODEL,
      { name: "text", type: "string", default: "", maxLength: 20_000 },
      { name: "description", type: "string", default: DEFAULT_TTS_DESCRIPTION, maxLength: 20_000 },
    ],
  },
};


export interface LlmMessage {
  role: string;
  content: string;
}

export type FieldValue = string | number | boolean | unknown[] | Record<string, unknown> | LlmMessage[] | null;

/** The model to use: the request's, or the pipeline default when empty. */
export function resolveModel(spec: PipelineSpec, v: Record<string, FieldValue | undefined>): string {
  const m = v[spec.modelField];
  return typeof m === "string" && m.trim() !== "" ? m.trim() : spec.defaultModel;
}

// ---------------------------------------------------------------- billing

export interface BillingFacts {
  /** Input image size (image pipelines). */
  imageWidth?: number;
  imageHeight?: number;
  /** Input audio duration in ms (audio-to-text). */
  audioDurationMs?: number;
}

/** Billing units (ai-api.md): what orchestrators charge for. */
export function billingUnits(spec: PipelineSpec, v: Record<string, FieldValue | undefined>, facts: BillingFacts = {}): number {
  const n = (k: string) => Number(v[k] ?? 0);
  const inPixels = (facts.imageWidth ?? 0) * (facts.imageHeight ?? 0);
  switch (spec.pipeline) {
    case "text-to-image":
      return n("height") * n("width") * n("num_images_per_prompt");
    case "image-to-image":
      return inPixels * n("num_images_per_prompt");
    case "upscale":
    case "segment-anything-2":
    case "image-to-text":
      return inPixels;
    case "image-to-video":
      return n("height") * n("width") * 25;
    case "audio-to-text":
      return Math.ceil(facts.audioDurationMs ?? 0);
    case "llm":
      // The most the answer may use: what the spend check reserves and the orchestrator is paid
      // for before the call. The usage record takes what the answer used (usedUnits).
      return n("max_tokens");
    case "text-to-speech":
      return 1000 * String(v.text ?? "").length;
  }
}

/** Tokens a chat template adds around each message (role markers, separators), generously. */
const LLM_TEMPLATE_TOKENS_PER_MESSAGE = 16;

/**
 * For pipelines billed by what the answer used (llm), the most an answer can be billed:
 * max_tokens plus a bound on the prompt's tokens (a token is at least one character, and a
 * chat template adds a few per message). Undefined: the projection (billingUnits) is the bill.
 */
export function unitCeiling(spec: PipelineSpec, v: Record<string, FieldValue | undefined>): number | undefined {
  if (spec.pipeline !== "llm") return undefined;
  const messages = (v.messages ?? []) as LlmMessage[];
  let prompt = 0;
  for (const m of messages) prompt += m.content.length + LLM_TEMPLATE_TOKENS_PER_MESSAGE;
  return prompt + Number(v.max_tokens ?? 0);
}

/**
 * The units an answer says it used (undefined: it does not say; bill the projection). llm:
 * the `usage` of Livepeer's LLM response (each streamed chunk carries it too, counting so
 * far): total_tokens (prompt + completion, as LLM APIs bill), else the sum of the two it
 * gives. Never more than `ceiling` (unitCeiling): the count comes from the orchestrator.
 */
export function usedUnits(answer: unknown, ceiling: number): number | undefined {
  if (!answer || typeof answer !== "object") return undefined;
  const u = (answer as { usage?: unknown }).usage;
  if (!u || typeof u !== "object") return undefined;
  const count = (x: unknown) => (typeof x === "number" && Number.isFinite(x) && x >= 0 ? Math.round(x) : undefined);
  const { total_tokens, prompt_tokens, completion_tokens } = u as Record<string, unknown>;
  const total = count(total_tokens);
  const prompt = count(prompt_tokens);
  const completion = count(completion_tokens);
  const used = total ?? (prompt === undefined && completion === undefined ? undefined : (prompt ?? 0) + (completion ?? 0));
  return used === undefined ? undefined : Math.min(used, ceiling);
}

/** Fee in wei = ceil(units x pricePerUnit / pixelsPerUnit). */
export function feeWei(units: number, pricePerUnit: number, pixelsPerUnit: number): bigint {
  const u = BigInt(Math.max(0, Math.ceil(units)));
  const p = BigInt(Math.max(0, Math.round(pricePerUnit)));
  const d = BigInt(Math.max(1, Math.round(pixelsPerUnit)));
  return (u * p + d - 1n) / d;
}
