// go-livepeer's -liveRunnerConfig as the development orchestrator reads it (ai/runner/live_runner.go).
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEV_USD_PER_ETH, parseRunners, RunnerConfigError } from "./runners.ts";

const base = { label: "a", runner_url: "http://127.0.0.1:9000/", app: "x/y" };

test("go-livepeer's defaults and spellings: a health_url beginning with / is under runner_url, single_shot, capacity 0 is 1", () => {
  const [r] = parseRunners({ runners: [{ ...base, health_url: "/healthz", mode: "single_shot", capacity: 0 }] });
  assert.equal(r!.healthUrl, "http://127.0.0.1:9000/healthz");
  assert.equal(r!.mode, "single-shot");
  assert.equal(r!.capacity, 1);
  const [abs] = parseRunners({ runners: [{ ...base, health_url: "http://127.0.0.1:9001/ok", capacity: 3 }] });
  assert.equal(abs!.healthUrl, "http://127.0.0.1:9001/ok");
  assert.equal(abs!.capacity, 3);
  assert.equal(parseRunners({ runners: [base] })[0]!.healthUrl, "http://127.0.0.1:9000/health");
});

test("a 720p price is USD per hour of 720p at 30 fps; hour is per second; fixed is once", () => {
  const weiPerUsd = 1e18 / DEV_USD_PER_ETH;
  const [p720, hour, fixed] = parseRunners({ runners: [
    { ...base, label: "a", price_info: { price: 1, currency: "usd", unit: "720p" } },
    { ...base, label: "b", price_info: { price: 1, currency: "usd", unit: "hour" } },
    { ...base, label: "c", price_info: { price: 1, currency: "usd", unit: "fixed" } },
  ] });
  const wei = (p: { pricePerUnit: number; pixelsPerUnit: number }) => p.pricePerUnit / p.pixelsPerUnit;
  assert.equal(p720!.unit, "720p-pixel-seconds");
  assert.ok(Math.abs(wei(p720!.price) - weiPerUsd / (3600 * 1280 * 720 * 30)) < 0.01, String(wei(p720!.price)));
  assert.equal(hour!.unit, "seconds");
  assert.ok(Math.abs(wei(hour!.price) / (weiPerUsd / 3600) - 1) < 1e-6);
  assert.equal(fixed!.unit, "fixed");
  assert.ok(Math.abs(wei(fixed!.price) / weiPerUsd - 1) < 1e-6);
});

test("metadata is a string of at most 1024 bytes", () => {
  assert.equal(parseRunners({ runners: [{ ...base, metadata: "{\"region\":\"eu\"}" }] })[0]!.metadata, "{\"region\":\"eu\"}");
  assert.throws(() => parseRunners({ runners: [{ ...base, metadata: "é".repeat(513) }] }), RunnerConfigError);
  assert.throws(() => parseRunners({ runners: [{ ...base, metadata: { region: "eu" } }] }), RunnerConfigError);
});
