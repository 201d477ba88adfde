// The orchestrator registry: every known orchestrator (OrchestratorInfo,
// prices, capacity, region, measured latency, success history, suspension),
// one shared background refresh (pooled gRPC channels, exponential backoff for
// unreachable ones, auth tokens refreshed before the last 10% of validity),
// and the selector. Processors (transcode, live AI, batch AI) share one instance.
import { EventEmitter } from "node:events";
import { closeGrpcClients, getOrchestrator } from "../../protocol/grpc-client.ts";
import type { OrchestratorInfo } from "../../protocol/messages.ts";
import { moduleLogger, type Logger } from "../../core/log.ts";
import { metrics } from "../../core/metrics.ts";
import { LocalLoad } from "./local-load.ts";
import { classifyError, recordFailure, recordSuccess, suspend } from "./health-rules.ts";
import { snapshotOf, type FailureContext, type FailureKind, type OrchState, type OrchestratorApps, type OrchestratorSnapshot, type RegistryEvents } from "./orchestrator-state.ts";
import type { RegistryOptions } from "./registry-options.ts";

export type { CallReport, FailureContext, FailureKind, OrchestratorApps, OrchestratorSnapshot, RegistryEvents, Suspension } from "./orchestrator-state.ts";
export type { RegistryOptions } from "./registry-options.ts";
import { addressSet, fetchWebhook, normalizeAddress, parseOrchAddr, type Candidate } from "./discovery.ts";
import { priceFor, type Price } from "./prices.ts";
import { rejectReason, selectOrchestrators, type OrchestratorView, type SelectRequest, type Selected, type SelectionPolicy } from "./selection.ts";

/** The longest suspension: a faulty orchestrator is retried at least this often (half-open trials come sooner). */
export const SUSPENSION_MAX_MS = 30_000;

export class OrchestratorRegistry extends EventEmitter<RegistryEvents> {
  private readonly localLoad: Pick<LocalLoad, "overloaded">;
  private readonly states = new Map<string, OrchState>();
  private staticCandidates: Candidate[];
  private webhookCandidates: Candidate[] = [];
  private webhookError?: string;
  private webhookAt?: number;
  private nextWebhookAt = 0;
  private webhookInFlight?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: Logger;
  private readonly policy: SelectionPolicy;
  private readonly fetchInfo: (address: string) => Promise<OrchestratorInfo>;
  private readonly fetchCandidates?: () => Promise<Candidate[]>;
  private stopped = false;

  constructor(private readonly opts: RegistryOptions = {}) {
    super();
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.localLoad = opts.localLoad ?? new LocalLoad();
    this.log = opts.logger ?? moduleLogger("orchestrators");
    this.staticCandidates = parseOrchAddr(opts.orchAddr ?? "", opts.regions);
    this.policy = {
      allow: addressSet(opts.allow),
      deny: addressSet(opts.deny),
      region: opts.region || undefined,
      busyCooldownMs: opts.busyCooldownMs,
    };
    this.fetchInfo = opts.fetchInfo ?? ((address) => getOrchestrator(address, { timeoutMs: opts.grpcTimeoutMs ?? 4000, tls: opts.tls, request: opts.request?.() }));
    this.fetchCandidates =
      opts.fetchCandidates ?? (opts.orchWebhookUrl ? () => fetchWebhook({ url: opts.orchWebhookUrl!, regions: opts.regions }) : undefined);
    this.syncCandidates();
  }

  // ------------------------------------------------------------ lifecycle

  /** Start the background refresh; resolves after the first round (or `waitMs`, whichever first). */
  async start(waitMs = 5000): Promise<void> {
    this.stopped = false;
    const first = this.refreshDue();
    // No orchestrator address and no webhook (e.g. a passthrough-only gateway): none can ever
    // appear, so there is nothing to tick for; an idle loop is not woken twice a second for it.
    if (!this.fetchCandidates && this.states.size === 0) {
      this.closeSuspensions(); // the wharf_orchestrators gauges read 0
      return first;
    }
    // The tick: refreshes what is due (OrchestratorInfo before its token expires, apps every few
    // seconds, the webhook) and announces suspensions that ran out; its period bounds how soon
    // an orchestrator that failed a call is asked again.
    this.timer = setInterval(() => {
      this.closeSuspensions();
      void this.refreshDue();
    }, this.opts.tickMs ?? 500);
    this.timer.unref();
    await Promise.race([first, new Promise((r) => setTimeout(r, waitMs).unref())]);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One refresh pass: webhook if due, then every orchestrator whose info is due. */
  async refreshDue(): Promise<void> {
    if (this.fetchCandidates && this.now() >= this.nextWebhookAt) await this.refreshWebhook();
    const now = this.now();
    const due = [...this.states.values()].filter((s) => !s.refreshing && s.nextRefreshAt <= now);
    const limit = this.opts.refreshConcurrency ?? 8;
    for (let i = 0; i < due.length; i += limit) {
      if (this.stopped) return;
      await Promise.all(due.slice(i, i + limit).map((s) => this.refreshOne(s)));
    }
    await this.refreshAppsDue();
  }

  /** GET /discovery of every reachable orchestrator whose apps are older than appsMaxAgeMs. */
  private async refreshAppsDue(): Promise<void> {
    const fetchApps = this.opts.fetchApps;
    if (!fetchApps) return;
    const now = this.now();
    const due = [...this.states.values()].filter((s) => s.reachable && !s.appsRefreshing && (s.appsAt ?? 0) + (this.opts.appsMaxAgeMs ?? 5000) <= now);
    await Promise.all(due.map((s) => this.refreshApps(s)));
  }

  /** Ask one orchestrator for its apps now (e.g. after a runner said it was busy); joins a request in flight. */
  refreshApps(s: OrchState | string): Promise<void> {
    const st = typeof s === "string" ? this.state(s) : s;
    const fetchApps = this.opts.fetchApps;
    if (!st || !fetchApps) return Promise.resolve();
    if (st.appsRefreshing) return st.appsRefreshing;
    const p: Promise<void> = Promise.resolve()
      .then(() => fetchApps(st.address))
      .then(
        (apps) => {
          st.apps = apps;
          st.appsError = undefined;
        },
        (err: unknown) => {
          st.appsError = (err as Error).message;
          // An orchestrator that stopped answering hosts nothing we can reach.
          st.apps = undefined;
        },
      )
      .finally(() => {
        st.appsAt = this.now();
        if (st.appsRefreshing === p) st.appsRefreshing = undefined;
      });
    st.appsRefreshing = p;
    return p;
  }

  /**
   * One orchestrator's apps as discovered at most `maxAgeMs` ago (asked again when older): the
   * runners it lists, or why it could not be asked. Undefined for an orchestrator not known.
   */
  async appsSeen(address: string, maxAgeMs: number): Promise<{ apps?: OrchestratorApps; error?: string } | undefined> {
    const st = this.state(address);
    if (!st) return undefined;
    if (st.appsRefreshing || (st.appsAt ?? 0) + maxAgeMs <= this.now()) await this.refreshApps(st);
    return { apps: st.apps, error: st.appsError };
  }

  /** The apps of every orchestrator, as last discovered. */
  apps(): Array<{ address: string; region?: string; reachable: boolean; suspended: boolean; latencyMs?: number; reliability: number; apps: OrchestratorApps }> {
    const now = this.now();
    const out = [];
    for (const s of this.states.values()) {
      if (!s.apps) continue;
      out.push({ address: s.address, region: s.region, reachable: s.reachable, suspended: s.suspendedUntil !== undefined && s.suspendedUntil > now, latencyMs: s.latencyMs, reliability: s.reliability, apps: s.apps });
    }
    return out;
  }

  /** Refresh every orchestrator now, backoff ignored (e.g. the signer's identity just arrived). */
  async refreshAll(): Promise<void> {
    for (const s of this.states.values()) s.nextRefreshAt = 0;
    await this.refreshDue();
  }

  /** Refresh one orchestrator now (e.g. after an auth failure). */
  async refresh(address: string): Promise<void> {
    const s = this.states.get(normalizeAddress(address) ?? address);
    if (s) await this.refreshOne(s);
  }

  private async refreshWebhook(): Promise<void> {
    if (this.webhookInFlight) return this.webhookInFlight;
    this.webhookInFlight = (async () => {
      try {
        this.webhookCandidates = await this.fetchCandidates!();
        this.webhookError = undefined;
        this.webhookAt = this.now();
        this.syncCandidates();
      } catch (err) {
        this.webhookError = (err as Error).message;
        this.log.warn({ err: this.webhookError }, "orchestrator webhook failed; keeping the last good list");
      } finally {
        this.nextWebhookAt = this.now() + (this.opts.webhookIntervalMs ?? 60_000);
        this.webhookInFlight = undefined;
      }
    })();
    return this.webhookInFlight;
  }

  /** Replace the candidate set (static + webhook), keeping state of known orchestrators. */
  private syncCandidates(): void {
    const merged = new Map<string, Candidate>();
    for (const c of this.webhookCandidates) merged.set(c.address, c);
    for (const c of this.staticCandidates) merged.set(c.address, c);
    for (const [addr] of this.states) {
      if (merged.has(addr)) continue;
      this.states.delete(addr);
      // Dropped from discovery: its pooled gRPC channel goes too.
      void closeGrpcClients(addr);
    }
    for (const c of merged.values()) {
      const s = this.states.get(c.address);
      if (s) {
        s.score = c.score;
        s.source = c.source;
        s.region = c.region ?? s.region;
      } else {
        this.states.set(c.address, {
          address: c.address,
          source: c.source,
          score: c.score,
          region: c.region,
          reachable: false,
          refreshFailures: 0,
          nextRefreshAt: 0,
          reliability: 1,
          successes: 0,
          failures: 0,
          busy: 0,
          penaltyLevel: 0,
        });
      }
    }
  }

  private refreshOne(s: OrchState): Promise<void> {
    if (s.refreshing) return s.refreshing;
    s.refreshing = (async () => {
      const t0 = this.now();
      try {
        const info = await this.fetchInfo(s.address);
        if (!info.transcoder) throw new Error("OrchestratorInfo without transcoder URL");
        const now = this.now();
        s.info = info;
        s.infoAt = now;
        s.reachable = true;
        s.lastError = undefined;
        s.refreshFailures = 0;
        s.nextRefreshAt = this.nextRefreshFor(info, now);
        if (s.latencyMs === undefined) s.latencyMs = now - t0;
      } catch (err) {
        const now = this.now();
        s.reachable = false;
        s.lastError = (err as Error).message;
        s.refreshFailures++;
        const base = this.opts.backoffBaseMs ?? 1000;
        const max = this.opts.backoffMaxMs ?? 60_000;
        s.nextRefreshAt = now + Math.min(max, base * 2 ** Math.min(20, s.refreshFailures - 1));
        this.log.debug({ address: s.address, err: s.lastError, failures: s.refreshFailures }, "GetOrchestrator failed");
      } finally {
        s.refreshing = undefined;
      }
    })();
    return s.refreshing;
  }

  /** Next refresh: before the last 10% of the token's validity, and at least every infoMaxAgeMs. */
  private nextRefreshFor(info: OrchestratorInfo, now: number): number {
    let next = now + (this.opts.infoMaxAgeMs ?? 60_000);
    const exp = info.authToken?.expiration;
    if (exp && exp > 0) {
      const validity = exp * 1000 - now;
      next = Math.min(next, now + Math.max(1000, 0.9 * validity));
    }
    return next;
  }

  /** Announce suspensions that ran out, and count the orchestrators by state (wharf_orchestrators). */
  closeSuspensions(): void {
    const now = this.now();
    let ok = 0;
    let suspended = 0;
    let unreachable = 0;
    for (const s of this.states.values()) {
      const isSuspended = s.suspendedUntil !== undefined && s.suspendedUntil > now;
      if (s.suspensionOpen && !isSuspended) {
        s.suspensionOpen = false;
        s.suspendedAt = undefined;
        this.emit("recovered", s.address);
      }
      if (isSuspended) suspended++;
      else if (!s.reachable) unreachable++;
      else ok++;
    }
    metrics.orchestrators.set({ state: "ok" }, ok);
    metrics.orchestrators.set({ state: "suspended" }, suspended);
    metrics.orchestrators.set({ state: "unreachable" }, unreachable);
  }

  // ------------------------------------------------------------ reports

  private state(address: string): OrchState | undefined {
    return this.states.get(address) ?? this.states.get(normalizeAddress(address) ?? "");
  }

  /** A request/segment succeeded; latencyMs = the measured round trip (e.g. upload accepted or total). */
  reportSuccess(address: string, latencyMs: number): void {
    const s = this.state(address);
    if (!s) return;
    if (recordSuccess(s, latencyMs, this.now())) this.emit("recovered", s.address);
    this.emit("call", { address: s.address, result: "ok", latencyMs });
  }

  /** A fault: suspends with a penalty doubling per consecutive level. Auth failures trigger a refresh. */
  reportFailure(address: string, kind: FailureKind, context?: FailureContext): void {
    const s = this.state(address);
    if (!s) return;
    const now = this.now();
    recordFailure(s, kind);
    this.emit("call", { address: s.address, result: "failed", kind });
    if (kind === "auth") {
      // A stale token is the orchestrator's way of saying "ask again": refresh, mild suspension.
      s.nextRefreshAt = now;
      void this.refreshOne(s);
      return;
    }
    if (kind === "timeout" && this.localLoad.overloaded()) {
      // Our own event loop is lagging: the timeout says more about us than about the orchestrator.
      this.log.info({ address: s.address, ...context }, "timeout while this gateway is overloaded: not suspending");
      return;
    }
    const ms = suspend(s, kind, this.opts.suspensionBaseMs ?? 5000, this.opts.suspensionMaxMs ?? SUSPENSION_MAX_MS);
    s.suspendedUntil = now + ms;
    s.suspendedAt = now;
    if (kind === "network" || kind === "timeout") s.nextRefreshAt = Math.min(s.nextRefreshAt, now);
    s.suspensionOpen = true;
    this.log.info({ address: s.address, kind, suspendedMs: ms, ...context }, "orchestrator suspended");
    this.emit("suspended", { address: s.address, kind, suspendedMs: ms, until: s.suspendedUntil, penaltyLevel: s.penaltyLevel, ...(context ? { context } : {}) });
  }

  /** No capacity right now: de-prioritised for a few seconds, never suspended, reliability untouched. */
  reportBusy(address: string): void {
    const s = this.state(address);
    if (!s) return;
    s.busy++;
    s.lastBusyAt = this.now();
    this.emit("call", { address: s.address, result: "busy" });
  }

  /** Map a client error to the right report (health-rules.ts): busy, nothing, or a fault of some kind. */
  reportError(address: string, err: unknown, context?: FailureContext): void {
    const kind = classifyError(err);
    if (kind === "busy") this.reportBusy(address);
    else if (kind !== "ignore") this.reportFailure(address, kind, context);
  }

  // ------------------------------------------------------------ queries

  /** The states as selection sees them (read-only there: no copy per request). */
  private views(): readonly OrchestratorView[] {
    return [...this.states.values()];
  }

  /** Best orchestrators for a job (see SelectRequest); empty when none fits. */
  select(req: SelectRequest): Selected[] {
    const now = this.now();
    const picked = selectOrchestrators(this.views(), req, this.policy, now, this.random);
    for (const p of picked) {
      // A suspended orchestrator handed out (half-open trial, or the best of an all-suspended
      // set): space its next trial from now.
      const s = this.states.get(p.address);
      if (s?.suspendedUntil !== undefined && s.suspendedUntil > now) s.lastProbeAt = now;
    }
    return picked;
  }

  /** Why each known orchestrator is or is not eligible (diagnostics, "no orchestrator" errors). */
  explain(req: SelectRequest): Record<string, string> {
    const now = this.now();
    const out: Record<string, string> = {};
    for (const v of this.views()) out[v.address] = rejectReason(v, req, this.policy, now) ?? "eligible";
    return out;
  }

  /** The latest OrchestratorInfo of one orchestrator. */
  info(address: string): OrchestratorInfo | undefined {
    return this.state(address)?.info;
  }

  /** Advertised price for a capability/model (capabilities_prices, else price_info). */
  priceOf(address: string, capability: number, modelId?: string): Price | undefined {
    return priceFor(this.state(address)?.info, capability, modelId);
  }

  addresses(): string[] {
    return [...this.states.keys()];
  }

  /**
   * The orchestrators that answer and are not held back, with or without an apps discovery: a BYOC
   * job asks each of them for a token (go-livepeer lists its BYOC capabilities nowhere else).
   */
  usable(): string[] {
    const now = this.now();
    return [...this.states.values()].filter((s) => s.reachable && !(s.suspendedUntil !== undefined && s.suspendedUntil > now)).map((s) => s.address);
  }

  webhookStatus(): { url: string | null; lastOkAt: string | null; lastError: string | null; count: number } {
    return {
      url: this.opts.orchWebhookUrl ?? null,
      lastOkAt: this.webhookAt ? new Date(this.webhookAt).toISOString() : null,
      lastError: this.webhookError ?? null,
      count: this.webhookCandidates.length,
    };
  }

  /** JSON-ready state of every orchestrator (no auth tokens). */
  snapshot(): OrchestratorSnapshot[] {
    const now = this.now();
    return [...this.states.values()].map((s) => snapshotOf(s, now));
  }
}
