// How many units of work the orchestrator debits, as a go-livepeer orchestrator counts them
// (server/ai_http.go handleAIRequest, server/segment_rpc.go ServeSegment, server/live_payment_processor.go).
// The fee is units x the advertised price (wei per pixelsPerUnit units).
import type { AiPipeline } from "../../protocol/ai/spec.ts";
import { Rational } from "../../protocol/payments/rational.ts";

/** live-video-to-video is billed as 1280x720 at 30 fps, whatever the stream really is. */
export const LV2V_PIXELS_PER_SECOND = 1280 * 720 * 30;

/** Frames go-livepeer's orchestrator bills an image-to-video request for (stable-video-diffusion's output). */
export const IMAGE_TO_VIDEO_FRAMES = 25;

/** Facts measured on the uploaded media. */
export interface AiMediaFacts {
  imageWidth?: number;
  imageHeight?: number;
  audioDurationMs?: number;
}

/**
 * Units of one batch AI request. `sent` holds only the fields the request carried (validated):
 * an absent field takes go's default, which is not always the runner's (text-to-image is billed
 * 512x512 when the gateway sends no size). For llm this is max_tokens, the most the answer may
 * cost; the debit itself uses the tokens the answer produced.
 */
export function aiWorkUnits(pipeline: AiPipeline, sent: Record<string, unknown>, facts: AiMediaFacts = {}): number {
  const int = (name: string, fallback: number): number => {
    const v = sent[name];
    return typeof v === "number" && Number.isFinite(v) ? Math.trunc(v) : fallback;
  };
  const inputPixels = (facts.imageWidth ?? 0) * (facts.imageHeight ?? 0);
  switch (pipeline) {
    case "text-to-image":
      return int("height", 512) * int("width", 512) * int("num_images_per_prompt", 1);
    case "image-to-image":
      return inputPixels * int("num_images_per_prompt", 1);
    case "image-to-video":
      return int("height", 576) * int("width", 1024) * IMAGE_TO_VIDEO_FRAMES;
    case "upscale":
    case "segment-anything-2":
    case "image-to-text":
      return inputPixels;
    case "audio-to-text":
      // go: whole seconds of the ffmpeg-measured duration, x1000.
      return Math.floor((facts.audioDurationMs ?? 0) / 1000) * 1000;
    case "llm":
      return int("max_tokens", 256);
    case "text-to-speech":
      // go counts runes (code points), not bytes or UTF-16 units.
      return 1000 * [...String(sent.text ?? "")].length;
  }
}

/** The fee for `units` at a price of pricePerUnit wei per pixelsPerUnit units, exact. */
export function workFee(units: number | bigint, price: { pricePerUnit: number; pixelsPerUnit: number }): Rational {
  const u = typeof units === "bigint" ? units : BigInt(Math.max(0, Math.trunc(units)));
  return Rational.of(u * BigInt(price.pricePerUnit), BigInt(price.pixelsPerUnit));
}
