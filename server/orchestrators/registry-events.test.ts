// The registry tells what happens to orchestrators: every call report, a suspension (with the
// request it happened in), and its end; wharf_orchestrators counts them by state.
import { test } from "node:test";
import assert from "node:assert/strict";
import { metrics } from "../../core/metrics.ts";
import type { OrchestratorInfo } from "../../protocol/messages.ts";
import { OrchestratorRegistry, type CallReport, type Suspension } from "./registry.ts";

const A = "https://10.0.0.1:8935";
const B = "https://10.0.0.2:8935";
const info = (addr: string): OrchestratorInfo => ({ transcoder: addr, priceInfo: { pricePerUnit: 0, pixelsPerUnit: 1 } }) as OrchestratorInfo;

test("call reports, a suspension with its context, its end when it runs out, counts by state", async () => {
  const clock = { t: Date.UTC(2026, 0, 1) };
  const reg = new OrchestratorRegistry({ orchAddr: `${A},${B}`, now: () => clock.t, fetchInfo: async (a) => info(a), suspensionBaseMs: 5000 });
  await reg.refreshDue();
  const calls: CallReport[] = [];
  const suspended: Suspension[] = [];
  const recovered: string[] = [];
  reg.on("call", (c) => calls.push(c));
  reg.on("suspended", (s) => suspended.push(s));
  reg.on("recovered", (a) => recovered.push(a));

  reg.reportSuccess(A, 120);
  reg.reportBusy(B);
  reg.reportFailure(B, "network", { requestId: "req-7" });
  assert.deepEqual(calls, [
    { address: A, result: "ok", latencyMs: 120 },
    { address: B, result: "busy" },
    { address: B, result: "failed", kind: "network" },
  ]);
  assert.deepEqual(suspended, [{ address: B, kind: "network", suspendedMs: 5000, until: clock.t + 5000, penaltyLevel: 1, context: { requestId: "req-7" } }]);

  reg.closeSuspensions();
  const gauge = async () => Object.fromEntries((await metrics.orchestrators.get()).values.map((v) => [v.labels.state, v.value]));
  assert.deepEqual(await gauge(), { ok: 1, suspended: 1, unreachable: 0 });
  assert.deepEqual(recovered, []);
  clock.t += 5001;
  reg.closeSuspensions();
  reg.closeSuspensions();
  assert.deepEqual(recovered, [B], "told once");
  assert.deepEqual(await gauge(), { ok: 2, suspended: 0, unreachable: 0 });
});
