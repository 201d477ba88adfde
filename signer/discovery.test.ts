import assert from "node:assert/strict";
import { test } from "node:test";
import { Capability } from "../protocol/capabilities.ts";
import type { OrchestratorInfo } from "../protocol/messages.ts";
import { Rational } from "../protocol/payments/rational.ts";
import { discoveryCapabilities } from "./discovery.ts";

const info = (over: Partial<OrchestratorInfo> = {}): OrchestratorInfo => ({
  priceInfo: { pricePerUnit: 10, pixelsPerUnit: 1 },
  capabilities: {
    constraints: {
      PerCapability: {
        [Capability.LiveVideoToVideo]: { models: { streamdiffusion: { warm: true }, noop: {} } },
        [Capability.TextToImage]: { models: { "sd-turbo": {} } },
        [Capability.H264]: { models: { ignored: {} } },
      },
    },
  },
  ...over,
});

test("capabilities are <pipeline>/<model> for AI models, sorted", () => {
  assert.deepEqual(discoveryCapabilities(info()), ["live-video-to-video/noop", "live-video-to-video/streamdiffusion", "text-to-image/sd-turbo"]);
});

test("a model's own price wins over the global one; the signer's maximum filters", () => {
  const priced = info({ capabilitiesPrices: [{ capability: Capability.LiveVideoToVideo, constraint: "noop", pricePerUnit: 1, pixelsPerUnit: 1 }] });
  assert.deepEqual(discoveryCapabilities(priced, Rational.of(5)), ["live-video-to-video/noop"]);
});

test("no price at all means not offered", () => {
  assert.deepEqual(discoveryCapabilities(info({ priceInfo: undefined })), []);
});
