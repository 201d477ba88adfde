import assert from "node:assert/strict";
import { test } from "node:test";
import { LiveMeter } from "./live-meter.ts";
import { aiWorkUnits, LV2V_PIXELS_PER_SECOND, workFee } from "./work-units.ts";

test("batch AI units follow go-livepeer's handleAIRequest, with its defaults for absent fields", () => {
  assert.equal(aiWorkUnits("text-to-image", {}), 512 * 512, "no size sent: go bills 512x512, one image");
  assert.equal(aiWorkUnits("text-to-image", { height: 768, width: 1024, num_images_per_prompt: 3 }), 768 * 1024 * 3);
  assert.equal(aiWorkUnits("image-to-image", { num_images_per_prompt: 2 }, { imageWidth: 640, imageHeight: 480 }), 640 * 480 * 2);
  assert.equal(aiWorkUnits("image-to-image", {}, { imageWidth: 640, imageHeight: 480 }), 640 * 480);
  assert.equal(aiWorkUnits("image-to-video", {}), 576 * 1024 * 25);
  assert.equal(aiWorkUnits("image-to-video", { height: 256, width: 256 }), 256 * 256 * 25);
  for (const p of ["upscale", "segment-anything-2", "image-to-text"] as const) {
    assert.equal(aiWorkUnits(p, { num_images_per_prompt: 4 }, { imageWidth: 300, imageHeight: 200 }), 60_000, p);
  }
  assert.equal(aiWorkUnits("audio-to-text", {}, { audioDurationMs: 12_999 }), 12_000, "whole seconds x 1000");
  assert.equal(aiWorkUnits("audio-to-text", {}, { audioDurationMs: 700 }), 0);
  assert.equal(aiWorkUnits("llm", { max_tokens: 100 }), 100);
  assert.equal(aiWorkUnits("text-to-speech", { text: "héllo 👋" }), 1000 * 7, "runes, not UTF-16 units or bytes");
});

test("a fee is units x pricePerUnit / pixelsPerUnit, exact", () => {
  assert.equal(workFee(512 * 512, { pricePerUnit: 3, pixelsPerUnit: 1 }).toString(), "786432");
  assert.equal(workFee(10, { pricePerUnit: 1, pixelsPerUnit: 3 }).toString(), "10/3");
  assert.equal(workFee(0, { pricePerUnit: 5, pixelsPerUnit: 1 }).toString(), "0");
  assert.equal(workFee(10n ** 20n, { pricePerUnit: 7, pixelsPerUnit: 1 }).toString(), "700000000000000000000");
});

test("the live meter bills 1280x720x30 pixels per elapsed second, at most once per interval, carrying fractions", () => {
  let now = 1_000_000;
  const meter = new LiveMeter(5_000, () => now);
  assert.equal(LV2V_PIXELS_PER_SECOND, 27_648_000);
  now += 4_999;
  assert.equal(meter.onInputSegment(), 0, "not before the interval");
  now += 1;
  assert.equal(meter.onInputSegment(), 5 * LV2V_PIXELS_PER_SECOND);
  now += 2_000;
  assert.equal(meter.onInputSegment(), 0);
  now += 3_333;
  assert.equal(meter.onInputSegment(), (LV2V_PIXELS_PER_SECOND * 5_333) / 1000);
});

test("the live meter advances by what it billed, so a fraction of a unit is billed later, not lost", () => {
  let now = 0;
  const meter = new LiveMeter(1_000, () => now, 3);
  now = 1_500;
  assert.equal(meter.onInputSegment(), 4, "4.5 units: 4 billed");
  now = 2_500;
  assert.equal(meter.onInputSegment(), 3, "the half unit left carries into this bill: 7 = floor(2.5 s x 3)");
});
