// GET /v1/apps: the apps Wharf can serve now, one entry per app, with the customer's price from
// the price book, the capacity free across orchestrators and where it runs.
import type { PriceBook } from "../accounts/pricing.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import { PIXELS_PER_SECOND_720P30, type DiscoveredRunner, type DiscoveryUnit } from "../../protocol/apps/live-runner.ts";

/** Price book entry of an app: "app:<app>" when the operator set one, else "apps". */
export function appPipeline(priceBook: PriceBook, app: string): string {
  return priceBook.config.pipelines[`app:${app}`] ? `app:${app}` : "apps";
}

/** Wei per unit of a discovered runner (exact fraction when the orchestrator gives it). */
export function runnerWeiPerUnit(r: DiscoveredRunner): number {
  const p = r.price_info;
  if (!p) return 0;
  return p.price_per_unit !== undefined && p.pixels_per_unit ? p.price_per_unit / p.pixels_per_unit : Number(p.price) || 0;
}

/** A runner's price unit: as discovered, else the mode's default (seconds for a session, fixed for a run). */
export function runnerUnit(r: DiscoveredRunner): DiscoveryUnit {
  return r.price_info?.unit ?? (r.mode === "single-shot" ? "fixed" : "seconds");
}

/** Wei a second of a session costs (0 for a fixed price: that is paid once). */
export function runnerWeiPerSecond(r: DiscoveredRunner): number {
  const unit = runnerUnit(r);
  return unit === "fixed" ? 0 : runnerWeiPerUnit(r) * (unit === "720p-pixel-seconds" ? PIXELS_PER_SECOND_720P30 : 1);
}

/** A runner's fixed price, paid once (0 for a runner priced by time). */
export function runnerFixedWei(r: DiscoveredRunner): number {
  return runnerUnit(r) === "fixed" ? runnerWeiPerUnit(r) : 0;
}

/** What runners of one app are compared by: wei a second (a 720p-pixel-second is not a second), or the fixed price. */
function comparableWei(r: DiscoveredRunner): number {
  return runnerWeiPerSecond(r) + runnerFixedWei(r);
}

export interface AppRunnerView {
  orchestrator: string;
  region: string | null;
  runner: DiscoveredRunner;
}

/**
 * Every runner of `app` that can take work now (the first `limit`), cheapest and fastest first
 * (regional preference first). Single-shot runners whose last discovery showed no free capacity
 * come last instead of not at all: their requests last milliseconds, so that count was likely
 * stale by now, and a full runner answers 503, which moves the request on.
 */
export function runnersFor(registry: OrchestratorRegistry, app: string, mode: DiscoveredRunner["mode"], region?: string, limit = Infinity): AppRunnerView[] {
  const out: Array<AppRunnerView & { latency: number; reliability: number; full: boolean }> = [];
  for (const o of registry.apps()) {
    if (!o.reachable || o.suspended) continue;
    for (const r of o.apps.runners) {
      if (r.app !== app || r.mode !== mode) continue;
      const full = r.capacity_available <= 0;
      if (full && mode !== "single-shot") continue;
      out.push({ orchestrator: o.address, region: o.region ?? null, runner: r, latency: o.latencyMs ?? 1000, reliability: o.reliability, full });
    }
  }
  if (out.length > 1)
    out.sort(
      (a, b) =>
        Number(a.full) - Number(b.full) ||
        Number(region !== undefined && b.region === region) - Number(region !== undefined && a.region === region) ||
        comparableWei(a.runner) - comparableWei(b.runner) ||
        b.reliability - a.reliability ||
        a.latency - b.latency,
    );
  return out.length > limit ? out.slice(0, limit) : out;
}

export interface AppEntry {
  app: string;
  mode: DiscoveredRunner["mode"];
  versions: string[];
  runners: number;
  capacity: number;
  capacityAvailable: number;
  regions: string[];
  gpus: string[];
  /** The customer's price in the operator currency, from the cheapest runner. */
  price: { currency: string; amount: number; per: "hour" | "request" | "hour-of-720p"; orchestratorWeiPerUnit: number; unit: string } | null;
}

export function appCatalogue(registry: OrchestratorRegistry, priceBook: PriceBook): AppEntry[] {
  const byApp = new Map<string, { entry: AppEntry; cheapest?: DiscoveredRunner }>();
  for (const o of registry.apps()) {
    if (!o.reachable) continue;
    for (const r of o.apps.runners) {
      const k = `${r.app}\u0000${r.mode}`;
      let a = byApp.get(k);
      if (!a) {
        a = { entry: { app: r.app, mode: r.mode, versions: [], runners: 0, capacity: 0, capacityAvailable: 0, regions: [], gpus: [], price: null } };
        byApp.set(k, a);
      }
      const e = a.entry;
      e.runners++;
      e.capacity += r.capacity;
      if (!o.suspended) e.capacityAvailable += r.capacity_available;
      if (r.version && !e.versions.includes(r.version)) e.versions.push(r.version);
      if (o.region && !e.regions.includes(o.region)) e.regions.push(o.region);
      if (r.gpu?.name && !e.gpus.includes(r.gpu.name)) e.gpus.push(r.gpu.name);
      if (!a.cheapest || comparableWei(r) < comparableWei(a.cheapest)) a.cheapest = r;
    }
  }
  return [...byApp.values()].map(({ entry, cheapest }) => {
    if (cheapest) entry.price = customerPrice(priceBook, entry.app, cheapest);
    return entry;
  });
}

/** What Wharf charges for an hour (per-second apps) or one request (fixed), in the operator currency. */
export function customerPrice(priceBook: PriceBook, app: string, r: DiscoveredRunner): AppEntry["price"] {
  const unit = runnerUnit(r);
  const wei = runnerWeiPerUnit(r);
  const pipeline = appPipeline(priceBook, app);
  const [per, units, durationMs] = unit === "fixed" ? (["request", 1, 0] as const) : unit === "720p-pixel-seconds" ? (["hour-of-720p", 3600 * PIXELS_PER_SECOND_720P30, 3_600_000] as const) : (["hour", 3600, 3_600_000] as const);
  const micros = priceBook.charge({ pipeline, units, durationMs, orchestratorCostWei: BigInt(Math.ceil(wei * units)) });
  return { currency: priceBook.currency, amount: micros / 1_000_000, per, orchestratorWeiPerUnit: wei, unit };
}
