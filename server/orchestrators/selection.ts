// Orchestrator selection (pure logic): filter by capability, model, price cap,
// allow/deny, suspension and token validity; order by tier (warm model,
// preferred region) then by a score from latency, reliability, price and the
// discovery score, with a little randomness so equal orchestrators share load.
import { checkCompatible, modelConstraint } from "../../protocol/capabilities.ts";
import type { AuthToken, OrchestratorInfo } from "../../protocol/messages.ts";
import { priceFor, unitPrice, withinCap, type Price } from "./prices.ts";

/** What selection needs to know about one orchestrator. */
export interface OrchestratorView {
  address: string;
  region?: string;
  /** Discovery score (webhook), 1 by default. */
  score: number;
  info?: OrchestratorInfo;
  /** Last refresh succeeded. */
  reachable: boolean;
  /** EWMA of observed latency (ms), undefined until measured. */
  latencyMs?: number;
  /** EWMA of success (1 = always succeeds). */
  reliability: number;
  suspendedUntil?: number;
  /** When the current suspension began (trial requests are spaced from it). */
  suspendedAt?: number;
  /** When the last trial request of a suspended orchestrator was handed out. */
  lastProbeAt?: number;
  lastBusyAt?: number;
}

export interface SelectRequest {
  /** The capability the job needs (e.g. Capability.H264 for transcoding, Capability.TextToImage). */
  capability: number;
  /** Every capability the job needs (default [capability]). */
  capabilities?: readonly number[];
  modelId?: string;
  /** Only warm models (default: warm preferred, cold allowed). */
  warmOnly?: boolean;
  /** Price cap for this capability/model. */
  maxPricePerUnit?: Price;
  /** Use orchestrators above the cap when none is within it. */
  ignoreMaxPriceIfNeeded?: boolean;
  /** Addresses not to return (already tried for this segment/request). */
  exclude?: ReadonlySet<string>;
  /** How many to return (default 1). */
  count?: number;
  /** Preferred region (overrides the registry's). */
  region?: string;
}

export interface Selected {
  address: string;
  /** Service URL for HTTP calls (OrchestratorInfo.transcoder). */
  transcoder: string;
  authToken: AuthToken;
  info: OrchestratorInfo;
  price?: Price;
  region?: string;
  score: number;
}

export interface SelectionPolicy {
  allow?: ReadonlySet<string>;
  deny?: ReadonlySet<string>;
  region?: string;
  /** How long after a busy answer an orchestrator is de-prioritised (not excluded). */
  busyCooldownMs?: number;
  /** Random factor amplitude: score x uniform(1-j, 1+j). Default 0.15. */
  jitter?: number;
  /** Latency assumed before any measurement (ms). Default 300. */
  defaultLatencyMs?: number;
}

export type RejectReason = "denied" | "not-allowed" | "excluded" | "no-info" | "unreachable" | "token-expired" | "incompatible" | "cold-model" | "suspended" | "over-price";

/**
 * A suspended orchestrator may take one trial request this often (half-open): a healthy one that
 * was suspended by a burst of failures is back within seconds, not at the end of its suspension.
 */
export const SUSPENDED_PROBE_INTERVAL_MS = 3000;

/** Whether a suspended orchestrator is due a trial request now. */
export function probeDue(o: OrchestratorView, now: number): boolean {
  return o.suspendedAt !== undefined && now - Math.max(o.suspendedAt, o.lastProbeAt ?? 0) >= SUSPENDED_PROBE_INTERVAL_MS;
}

/** Why an orchestrator cannot serve this request (undefined = eligible, price aside). */
export function rejectReason(o: OrchestratorView, req: SelectRequest, policy: SelectionPolicy, now: number, ignoreSuspension = false): RejectReason | undefined {
  if (policy.deny?.has(o.address)) return "denied";
  if (policy.allow && policy.allow.size > 0 && !policy.allow.has(o.address)) return "not-allowed";
  if (req.exclude?.has(o.address)) return "excluded";
  if (!o.info || !o.info.transcoder) return "no-info";
  if (!o.reachable) return "unreachable";
  const exp = o.info.authToken?.expiration;
  if (exp !== undefined && exp > 0 && exp * 1000 <= now) return "token-expired";
  const why = fitOf(o.info, req).incompatible;
  if (why) return why;
  if (!ignoreSuspension && o.suspendedUntil !== undefined && o.suspendedUntil > now && !probeDue(o, now)) return "suspended";
  return undefined;
}

/** What one orchestrator's info says about a request: fixed until the info is refreshed. */
interface Fit {
  incompatible: "cold-model" | "incompatible" | undefined;
  price: Price | undefined;
  warm: boolean;
}

/**
 * Fits remembered per OrchestratorInfo (a refresh brings a new object) and request shape:
 * checkCompatible and priceFor allocate sets, lists and closures, and selection runs them
 * for every orchestrator on every request.
 */
const fits = new WeakMap<OrchestratorInfo, Map<string, Fit>>();
function fitOf(info: OrchestratorInfo, req: SelectRequest): Fit {
  const key = `${req.capabilities ? req.capabilities.join(",") : req.capability}|${req.modelId ?? ""}|${req.warmOnly ? 1 : 0}`;
  let m = fits.get(info);
  if (!m) fits.set(info, (m = new Map()));
  let f = m.get(key);
  if (!f) {
    const models = req.modelId !== undefined ? { [req.capability]: [req.modelId] } : undefined;
    const why = checkCompatible(info.capabilities, { capabilities: req.capabilities ?? [req.capability], models, warm: req.warmOnly });
    f = {
      incompatible: why ? (why.kind === "cold-model" ? "cold-model" : "incompatible") : undefined,
      price: priceFor(info, req.capability, req.modelId),
      warm: req.modelId === undefined || modelConstraint(info.capabilities, req.capability, req.modelId)?.warm === true,
    };
    if (m.size > 1000) m.clear(); // model ids come from users: bound the memo
    m.set(key, f);
  }
  return f;
}

/** withinCap, remembered per (cap, price) object pair (both long-lived: price caps, fits). */
const capChecks = new WeakMap<Price, WeakMap<Price, boolean>>();
function fitsCap(price: Price | undefined, cap: Price | undefined): boolean {
  if (!cap || !price) return true;
  let m = capChecks.get(cap);
  if (!m) capChecks.set(cap, (m = new WeakMap()));
  let ok = m.get(price);
  if (ok === undefined) m.set(price, (ok = withinCap(price, cap)));
  return ok;
}

/** Score (higher is better) before randomness. */
export function baseScore(o: OrchestratorView, price: Price | undefined, minUnitPrice: number, policy: SelectionPolicy, now: number): number {
  const latency = o.latencyMs ?? policy.defaultLatencyMs ?? 300;
  const latencyFactor = 1 / (1 + latency / 250);
  const reliability = Math.max(0.01, Math.min(1, o.reliability));
  const reliabilityFactor = reliability * reliability;
  const up = unitPrice(price);
  const priceFactor = up > 0 && minUnitPrice > 0 ? Math.pow(minUnitPrice / up, 0.3) : up > 0 ? 0.9 : 1;
  const busyFactor = o.lastBusyAt !== undefined && now - o.lastBusyAt < (policy.busyCooldownMs ?? 5000) ? 0.25 : 1;
  const discovery = o.score > 0 ? o.score : 0.01;
  return latencyFactor * reliabilityFactor * priceFactor * busyFactor * discovery;
}

/** Pick up to `count` orchestrators for a request. */
export function selectOrchestrators(
  views: readonly OrchestratorView[],
  req: SelectRequest,
  policy: SelectionPolicy,
  now: number,
  random: () => number = Math.random,
): Selected[] {
  const count = req.count ?? 1;
  // The eligible ones within the cap; all eligible ones if none is and ignoreMaxPriceIfNeeded.
  const within: { o: OrchestratorView; fit: Fit }[] = [];
  const over: { o: OrchestratorView; fit: Fit }[] = [];
  let suspended: { o: OrchestratorView; fit: Fit }[] | undefined;
  for (const o of views) {
    const why = rejectReason(o, req, policy, now);
    if (why === "suspended") {
      const fit = fitOf(o.info!, req);
      if (fitsCap(fit.price, req.maxPricePerUnit) || req.ignoreMaxPriceIfNeeded) (suspended ??= []).push({ o, fit });
      continue;
    }
    if (why !== undefined) continue;
    const fit = fitOf(o.info!, req);
    if (fitsCap(fit.price, req.maxPricePerUnit)) within.push({ o, fit });
    else if (req.ignoreMaxPriceIfNeeded) over.push({ o, fit });
  }
  // Every fitting orchestrator is suspended: try the best of them rather than refusing (a
  // suspension may come from our own overload, and a refusal helps no one).
  const pool = within.length > 0 ? within : over.length > 0 ? over : (suspended ?? []);
  if (pool.length === 0) return [];
  let minUnit = Infinity;
  for (const e of pool) {
    const u = unitPrice(e.fit.price);
    if (u > 0 && u < minUnit) minUnit = u;
  }
  if (minUnit === Infinity) minUnit = 0;
  const region = req.region ?? policy.region;
  const jitter = policy.jitter ?? 0.15;
  const ranked = pool.map(({ o, fit }) => {
    const tier = (fit.warm ? 0 : 2) + (region && o.region !== region ? 1 : 0);
    const score = baseScore(o, fit.price, minUnit, policy, now);
    const noisy = score * (1 - jitter + 2 * jitter * random());
    return { o, price: fit.price, tier, score, noisy };
  });
  if (ranked.length > 1) ranked.sort((a, b) => a.tier - b.tier || b.noisy - a.noisy);
  return ranked.slice(0, count).map(({ o, price, score }) => ({
    address: o.address,
    transcoder: o.info!.transcoder!,
    authToken: o.info!.authToken ?? {},
    info: o.info!,
    price,
    region: o.region,
    score,
  }));
}
