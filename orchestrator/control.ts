// The development orchestrator's `POST /wharf/configure` (with --control): test knobs changed on a
// running process. A body is checked whole before anything applies, so a bad field changes nothing.
import type { OrchestratorFeature, OrchestratorKnobs } from "./feature.ts";
import type { Payee } from "./payments/payee.ts";

export interface ConfigureTarget {
  configure(changes: Partial<OrchestratorKnobs> & { capacity?: number }): void;
  payee: Payee | undefined;
  features: readonly OrchestratorFeature[];
}

/** A `POST /wharf/configure` body checked whole: an error message, or the changes to apply. */
export function prepareConfigure(body: unknown, { configure, payee, features }: ConfigureTarget): string | Array<() => void> {
  if (!body || typeof body !== "object" || Array.isArray(body)) return "body must be a JSON object";
  const changes: Partial<OrchestratorKnobs> & { capacity?: number } = {};
  const applies: Array<() => void> = [() => configure(changes)];
  for (const [key, value] of Object.entries(body)) {
    const isNum = typeof value === "number" && Number.isFinite(value);
    if (key === "capacity") {
      if (!isNum || !Number.isInteger(value) || value < 0) return "capacity: expected an integer >= 0";
      changes.capacity = value;
    } else if (key === "latencyMs") {
      if (!isNum || value < 0) return "latencyMs: expected a number >= 0";
      changes.latencyMs = value;
    } else if (key === "failRate") {
      if (!isNum || value < 0 || value > 1) return "failRate: expected a number within 0..1";
      changes.failRate = value;
    } else if (key === "payments") {
      if (!payee) return "payments: payment is not required (start with --require-payment)";
      const p = value as Record<string, unknown> | null;
      const blocks = p && typeof p === "object" && !Array.isArray(p) ? p.advanceBlocks : undefined;
      if (!p || typeof p !== "object" || Array.isArray(p) || Object.keys(p).some((k) => k !== "advanceBlocks") || typeof blocks !== "number" || !Number.isInteger(blocks) || blocks < 0) {
        return 'payments: expected {"advanceBlocks": integer >= 0}';
      }
      applies.push(() => payee.clock.advance(BigInt(blocks)));
    } else {
      const f = features.find((x) => x.name === key);
      if (!f?.prepareConfigure) {
        const known = ["capacity", "latencyMs", "failRate", ...(payee ? ["payments"] : []), ...features.filter((x) => x.prepareConfigure).map((x) => x.name)];
        return `unknown field "${key}" (known: ${known.join(", ")})`;
      }
      const r = f.prepareConfigure(value);
      if (typeof r === "string") return `${key}: ${r}`;
      applies.push(r);
    }
  }
  return applies;
}
