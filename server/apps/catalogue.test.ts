import { test } from "node:test";
import assert from "node:assert/strict";
import type { DiscoveredRunner } from "../../protocol/apps/live-runner.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import { runnersFor } from "./catalogue.ts";

const runner = (mode: DiscoveredRunner["mode"], available: number, price: number): DiscoveredRunner => ({
  url: `http://runner/${mode}`, app: "example/json", version: "1", mode, capacity: 2, capacity_used: 2 - available, capacity_available: available,
  price_info: { price, currency: "wei", unit: "fixed" },
});

/** The registry's view of three orchestrators: `full` is the cheapest but its last discovery showed no free slot. */
function registry(mode: DiscoveredRunner["mode"]): OrchestratorRegistry {
  const o = (address: string, r: DiscoveredRunner) => ({ address, reachable: true, suspended: false, latencyMs: 10, reliability: 1, apps: { runners: [r], byoc: [] } });
  const list = [o("https://full", runner(mode, 0, 1)), o("https://dear", runner(mode, 2, 9)), o("https://cheap", runner(mode, 1, 5))];
  return { apps: () => list } as unknown as OrchestratorRegistry;
}

test("runnersFor: cheapest first; a single-shot runner shown full is tried last (the count is stale in ms), a persistent one not at all", () => {
  assert.deepEqual(runnersFor(registry("single-shot"), "example/json", "single-shot").map((r) => r.orchestrator), ["https://cheap", "https://dear", "https://full"]);
  assert.deepEqual(runnersFor(registry("single-shot"), "example/json", "single-shot", undefined, 2).map((r) => r.orchestrator), ["https://cheap", "https://dear"]);
  assert.deepEqual(runnersFor(registry("persistent"), "example/json", "persistent").map((r) => r.orchestrator), ["https://cheap", "https://dear"]);
});
