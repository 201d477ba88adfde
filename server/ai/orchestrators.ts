// What batch AI needs from orchestrator discovery and selection, as a narrow
// interface (`AiOrchestratorSource`), plus `AiPool`: a self-contained
// implementation over a static address list (GetOrchestrator refresh, price caps,
// warm-first ordering, latency/reliability scoring, busy != faulty). The
// composition root can back the interface with the shared registry in
// server/orchestrators instead.
import { getOrchestrator } from "../../protocol/grpc-client.ts";
import { capabilityConstraints, hasCapability, modelConstraint } from "../../protocol/capabilities.ts";
import type { AuthToken, OrchestratorInfo } from "../../protocol/messages.ts";
import { moduleLogger } from "../log.ts";
import type { Price, PriceCaps } from "./price-cap.ts";

const log = moduleLogger("ai-pool");

export interface AiCandidate {
  /** Registry identity (the orchAddr URL). */
  address: string;
  /** OrchestratorInfo.transcoder: where `POST /<pipeline>` goes. */
  serviceUrl: string;
  authToken: AuthToken;
  price: Price;
  warm: boolean;
}

export type NoCandidateReason = "no-orchestrators" | "no-capability" | "no-model" | "over-price" | "exhausted";

export type AiSelection =
  | { ok: true; candidates: AiCandidate[] }
  | { ok: false; reason: NoCandidateReason; message: string };

export interface AiSelectRequest {
  pipeline: string;
  capability: number;
  modelId: string;
  /** Addresses already tried for this request. */
  exclude: ReadonlySet<string>;
}

export interface AiOrchestratorSource {
  /** Candidates for (capability, model), best first: warm before cold, under the price cap, scored. */
  select(req: AiSelectRequest): Promise<AiSelection>;
  reportSuccess(address: string, latencyMs: number): void;
  /** Network error, timeout, 5xx, bad credentials: penalise. */
  reportFailure(address: string, reason: string): void;
  /** 503 insufficient capacity: skip for a moment, no penalty. */
  reportBusy(address: string): void;
  /** The orchestrator refused our credentials (expired token?): refresh its info. */
  invalidate?(address: string): void;
}

interface Entry {
  address: string;
  info?: OrchestratorInfo;
  fetchedAt: number;
  refreshing?: Promise<void>;
  lastError?: string;
  latencyEwmaMs?: number;
  successes: number;
  failures: number;
  /** Consecutive failures; suspension grows with it. */
  streak: number;
  suspendedUntil: number;
  busyUntil: number;
}

export interface AiPoolOptions {
  addresses: string[];
  caps: PriceCaps;
  /** Use over-cap orchestrators when nothing else fits. */
  ignoreMaxPriceIfNeeded?: boolean;
  /** Refresh OrchestratorInfo this often (default 60 s; tokens last ~30 min). */
  refreshMs?: number;
  /** Suspension after a failure: base ms, doubled per consecutive failure, capped (default 5 s .. 5 min). */
  suspendBaseMs?: number;
  suspendMaxMs?: number;
  /** Skip a busy orchestrator for this long (default 1 s). */
  busyMs?: number;
  random?: () => number;
}

function priceFor(info: OrchestratorInfo, capability: number, model: string): Price {
  const prices = info.capabilitiesPrices ?? [];
  const p =
    prices.find((x) => (x.capability ?? 0) === capability && (x.constraint ?? "") === model) ??
    prices.find((x) => (x.capability ?? 0) === capability && !(x.constraint ?? "")) ??
    info.priceInfo;
  return { pricePerUnit: p?.pricePerUnit ?? 0, pixelsPerUnit: p?.pixelsPerUnit || 1 };
}

export class AiPool implements AiOrchestratorSource {
  private readonly entries = new Map<string, Entry>();
  private readonly random: () => number;
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: AiPoolOptions) {
    this.random = opts.random ?? Math.random;
    for (const a of opts.addresses) {
      this.entries.set(a, { address: a, fetchedAt: 0, successes: 0, failures: 0, streak: 0, suspendedUntil: 0, busyUntil: 0 });
    }
  }

  /** Fetch every orchestrator's info now and keep refreshing in the background. */
  start(): void {
    void this.refreshAll();
    const every = this.opts.refreshMs ?? 60_000;
    this.timer = setInterval(() => void this.refreshAll(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private refreshAll(): Promise<void> {
    return Promise.all([...this.entries.values()].map((e) => this.refresh(e))).then(() => undefined);
  }

  private refresh(e: Entry): Promise<void> {
    e.refreshing ??= getOrchestrator(e.address, { timeoutMs: 4000 })
      .then(
        (info) => {
          e.info = info;
          e.fetchedAt = Date.now();
          e.lastError = undefined;
        },
        (err: Error) => {
          e.lastError = err.message;
          e.fetchedAt = Date.now();
          log.debug({ orchestrator: e.address, err: err.message }, "GetOrchestrator failed");
        },
      )
      .finally(() => {
        e.refreshing = undefined;
      });
    return e.refreshing;
  }

  private tokenFresh(e: Entry): boolean {
    const exp = e.info?.authToken?.expiration ?? 0;
    // Refresh in the last 10% of a 30 min token (3 min margin).
    return exp * 1000 - Date.now() > 3 * 60 * 1000;
  }

  async select(req: AiSelectRequest): Promise<AiSelection> {
    const all = [...this.entries.values()];
    if (all.length === 0) return { ok: false, reason: "no-orchestrators", message: "no orchestrators are configured (orchAddr)" };
    // Make sure we have usable info: wait for first/expired fetches (bounded by the gRPC timeout).
    await Promise.all(all.filter((e) => !e.info || !this.tokenFresh(e)).map((e) => (e.refreshing ?? this.refresh(e))));
    const now = Date.now();
    const known = all.filter((e) => e.info);
    if (known.length === 0) {
      return { ok: false, reason: "no-orchestrators", message: `no orchestrator is reachable (${all.map((e) => `${e.address}: ${e.lastError ?? "no answer"}`).join("; ")})` };
    }
    const withCap = known.filter((e) => hasCapability(e.info!.capabilities?.bitstring, req.capability));
    if (withCap.length === 0) return { ok: false, reason: "no-capability", message: `no orchestrator offers ${req.pipeline}` };
    const withModel = withCap.filter((e) => modelConstraint(e.info!.capabilities, req.capability, req.modelId) || !capabilityConstraints(e.info!.capabilities, req.capability)?.models);
    if (withModel.length === 0) {
      return { ok: false, reason: "no-model", message: `no orchestrator has the model "${req.modelId}" for ${req.pipeline}` };
    }
    const priced = withModel.map((e) => ({ e, price: priceFor(e.info!, req.capability, req.modelId) }));
    let underCap = priced.filter((x) => !this.opts.caps.exceeds(req.pipeline, req.modelId, x.price));
    if (underCap.length === 0) {
      if (!this.opts.ignoreMaxPriceIfNeeded) {
        const cheapest = priced.reduce((a, b) => (a.price.pricePerUnit / a.price.pixelsPerUnit <= b.price.pricePerUnit / b.price.pixelsPerUnit ? a : b));
        return {
          ok: false,
          reason: "over-price",
          message: `all ${priced.length} orchestrator(s) with ${req.pipeline} "${req.modelId}" are over the price cap of ${this.opts.caps.describe(req.pipeline, req.modelId)} (cheapest asks ${cheapest.price.pricePerUnit} wei per ${cheapest.price.pixelsPerUnit} unit(s))`,
        };
      }
      underCap = priced;
    }
    const untried = underCap.filter((x) => !req.exclude.has(x.e.address));
    if (untried.length === 0) return { ok: false, reason: "exhausted", message: "every eligible orchestrator was tried" };
    const scored = untried.map((x) => {
      const mc = modelConstraint(x.e.info!.capabilities, req.capability, req.modelId);
      const warm = mc ? mc.warm !== false : true;
      return { ...x, warm, score: this.score(x.e, now, warm) };
    });
    scored.sort((a, b) => a.score - b.score);
    return {
      ok: true,
      candidates: scored.map((x) => ({ address: x.e.address, serviceUrl: x.e.info!.transcoder || x.e.address, authToken: x.e.info!.authToken ?? {}, price: x.price, warm: x.warm })),
    };
  }

  /** Lower is better: cold +1e6, suspended +1e7, busy +1e5; then latency, failure ratio and a little randomness. */
  private score(e: Entry, now: number, warm: boolean): number {
    let s = 0;
    if (!warm) s += 1e6;
    if (e.suspendedUntil > now) s += 1e7;
    if (e.busyUntil > now) s += 1e5;
    const latency = e.latencyEwmaMs ?? 50;
    const total = e.successes + e.failures;
    const failRatio = total ? e.failures / total : 0;
    return s + latency * (1 + 4 * failRatio) * (0.9 + 0.2 * this.random());
  }

  reportSuccess(address: string, latencyMs: number): void {
    const e = this.entries.get(address);
    if (!e) return;
    e.successes++;
    e.streak = 0;
    e.suspendedUntil = 0;
    e.latencyEwmaMs = e.latencyEwmaMs === undefined ? latencyMs : e.latencyEwmaMs * 0.8 + latencyMs * 0.2;
  }

  reportFailure(address: string, reason: string): void {
    const e = this.entries.get(address);
    if (!e) return;
    e.failures++;
    e.streak++;
    const base = this.opts.suspendBaseMs ?? 5000;
    e.suspendedUntil = Date.now() + Math.min(this.opts.suspendMaxMs ?? 300_000, base * 2 ** (e.streak - 1));
    log.info({ orchestrator: address, reason, streak: e.streak }, "AI orchestrator failed");
  }

  reportBusy(address: string): void {
    const e = this.entries.get(address);
    if (e) e.busyUntil = Date.now() + (this.opts.busyMs ?? 1000);
  }

  invalidate(address: string): void {
    const e = this.entries.get(address);
    if (e) void this.refresh(e);
  }

  /** For tests and status pages. */
  snapshot(): Array<{ address: string; reachable: boolean; successes: number; failures: number; suspended: boolean; latencyEwmaMs?: number }> {
    const now = Date.now();
    return [...this.entries.values()].map((e) => ({
      address: e.address, reachable: Boolean(e.info) && !e.lastError, successes: e.successes, failures: e.failures,
      suspended: e.suspendedUntil > now, latencyEwmaMs: e.latencyEwmaMs,
    }));
  }
}
