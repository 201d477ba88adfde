// AiOrchestratorSource backed by the shared orchestrator registry (server/orchestrators):
// selection by capability + model (warm first, scored by the registry), the AI price
// caps from server/orchestrators/price-caps.ts, and "why nothing fits" from registry.explain().
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import type { AiOrchestratorSource, AiSelectRequest, AiSelection } from "./orchestrators.ts";
import type { PriceCaps } from "../orchestrators/price-caps.ts";

export function registryAiSource(registry: OrchestratorRegistry, caps: PriceCaps, opts: { ignoreMaxPriceIfNeeded?: boolean } = {}): AiOrchestratorSource {
  return {
    async select(req: AiSelectRequest): Promise<AiSelection> {
      const cap = caps.capFor(req.pipeline, req.modelId);
      const base = { capability: req.capability, modelId: req.modelId, maxPricePerUnit: cap, ignoreMaxPriceIfNeeded: opts.ignoreMaxPriceIfNeeded };
      const picked = registry.select({ ...base, exclude: req.exclude, count: 8 });
      if (picked.length > 0) {
        return {
          ok: true,
          candidates: picked.map((s) => ({
            address: s.address,
            serviceUrl: s.transcoder,
            authToken: s.authToken,
            price: { pricePerUnit: s.price?.pricePerUnit ?? 0, pixelsPerUnit: s.price?.pixelsPerUnit || 1 },
            warm: true,
            paid: (s.price?.pricePerUnit ?? 0) > 0 && (registry.info(s.address)?.ticketParams?.recipient?.length ?? 0) > 0,
          })),
        };
      }
      if (registry.addresses().length === 0) return { ok: false, reason: "no-orchestrators", message: "no orchestrators are configured (orchAddr, orchWebhookUrl or devOrchestrators)" };
      // Nothing fits: find out why, without the exclusions and without the cap.
      const reasons = Object.entries(registry.explain(base));
      const eligible = reasons.filter(([, r]) => r === "eligible").map(([a]) => a);
      if (eligible.length > 0) {
        const untried = eligible.filter((a) => !req.exclude.has(a));
        if (untried.length === 0) return { ok: false, reason: "exhausted", message: "every eligible orchestrator was tried" };
        // Eligible but none within the cap.
        const prices = eligible.map((a) => registry.priceOf(a, req.capability, req.modelId)).filter((p) => p !== undefined);
        const cheapest = prices.sort((x, y) => x!.pricePerUnit / x!.pixelsPerUnit - y!.pricePerUnit / y!.pixelsPerUnit)[0];
        return {
          ok: false,
          reason: "over-price",
          message: `all ${eligible.length} orchestrator(s) with ${req.pipeline} "${req.modelId}" are over the price cap of ${caps.describe(req.pipeline, req.modelId)}${cheapest ? ` (cheapest asks ${cheapest.pricePerUnit} wei per ${cheapest.pixelsPerUnit} unit(s))` : ""}`,
        };
      }
      const hasModel = reasons.some(([, r]) => r !== "incompatible" && r !== "denied" && r !== "not-allowed");
      if (!hasModel && reasons.every(([, r]) => r === "incompatible" || r === "denied" || r === "not-allowed")) {
        return { ok: false, reason: "no-model", message: `no orchestrator has the model "${req.modelId}" for ${req.pipeline} (${reasons.map(([a, r]) => `${a}: ${r}`).join("; ")})` };
      }
      // Say why an orchestrator is unreachable (e.g. it refuses unsigned requests: it wants payment).
      const errors = new Map(registry.snapshot().map((s) => [s.address, s.lastError]));
      const why = ([a, r]: [string, string]) => {
        const err = errors.get(a);
        if ((r !== "unreachable" && r !== "no-info") || !err) return `${a}: ${r}`;
        // go-livepeer's orchestrators refuse unsigned GetOrchestrator requests when they want payment.
        const hint = /sig check failed/.test(err) ? "; it serves only paying gateways: set remoteSignerUrl" : "";
        return `${a}: ${r} (${err}${hint})`;
      };
      return { ok: false, reason: "no-orchestrators", message: `no orchestrator can take ${req.pipeline} "${req.modelId}" now: ${reasons.map(why).join("; ")}` };
    },
    reportSuccess: (address, latencyMs) => registry.reportSuccess(address, latencyMs),
    reportFailure: (address, reason, requestId) =>
      registry.reportFailure(
        address,
        /timed out/i.test(reason) ? "timeout" : /^40[13]/.test(reason) ? "auth" : /^402/.test(reason) ? "payment" : /^\d{3}/.test(reason) ? "other" : /answer|result|data URI|url/i.test(reason) ? "bad-result" : "network",
        requestId ? { requestId } : undefined,
      ),
    reportBusy: (address) => registry.reportBusy(address),
  };
}
