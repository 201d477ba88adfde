// One orchestrator as the registry knows it (info, measurements, suspension, apps), and the
// JSON view of it that GET /v1/orchestrators, the dashboard and the offering read.
import { bitstringToList, capabilityName } from "../../protocol/capabilities.ts";
import type { DiscoveredByoc, DiscoveredRunner } from "../../protocol/apps/live-runner.ts";
import type { OrchestratorInfo } from "../../protocol/messages.ts";
import type { Candidate } from "./discovery.ts";
import type { Price } from "./prices.ts";

/** Failure kinds a processor reports; "busy" has its own method and never suspends. */
export type FailureKind = "timeout" | "network" | "auth" | "bad-result" | "transcode-failed" | "payment" | "other";

/** What a failure happened in, for logs and events (one request's or one stream's story). */
/** What one orchestrator's `GET /discovery` said last. */
export interface OrchestratorApps {
  runners: DiscoveredRunner[];
  byoc: DiscoveredByoc[];
}

export interface OrchState {
  apps?: OrchestratorApps;
  appsAt?: number;
  appsError?: string;
  /** The discovery request in flight. */
  appsRefreshing?: Promise<void>;
  address: string;
  source: Candidate["source"];
  score: number;
  region?: string;
  info?: OrchestratorInfo;
  infoAt?: number;
  reachable: boolean;
  lastError?: string;
  refreshFailures: number;
  nextRefreshAt: number;
  refreshing?: Promise<void>;
  latencyMs?: number;
  reliability: number;
  successes: number;
  failures: number;
  busy: number;
  lastBusyAt?: number;
  penaltyLevel: number;
  suspendedUntil?: number;
  suspendedAt?: number;
  lastProbeAt?: number;
  /** The suspension was announced and its end not yet. */
  suspensionOpen?: boolean;
  lastFailureKind?: FailureKind;
}

export interface OrchestratorSnapshot {
  address: string;
  source: "static" | "webhook";
  discoveryScore: number;
  region: string | null;
  reachable: boolean;
  lastError: string | null;
  lastRefreshAt: string | null;
  nextRefreshAt: string;
  transcoder: string | null;
  version: string | null;
  price: Price | null;
  capabilities: Array<{ id: number; name: string; capacity: number | null; models: Record<string, { warm: boolean; capacity: number; capacityInUse: number }> }>;
  capabilitiesPrices: Array<{ capability: number; modelId: string; pricePerUnit: number; pixelsPerUnit: number }>;
  tokenExpiresAt: string | null;
  latencyMs: number | null;
  reliability: number;
  successes: number;
  failures: number;
  busy: number;
  suspendedUntil: string | null;
  penaltyLevel: number;
  /** Live Runner apps and BYOC capabilities from GET /discovery (null: not asked or never answered). */
  apps?: (OrchestratorApps & { lastRefreshAt: string | null; lastError: string | null }) | null;
}

/** The JSON view of one orchestrator's state at `now` (no auth tokens). */
export function snapshotOf(s: OrchState, now: number): OrchestratorSnapshot {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  const caps = s.info?.capabilities;
  const capacities = (caps?.capacities ?? {}) as Record<string, number>;
  const per = (caps?.constraints?.PerCapability ?? {}) as Record<string, { models?: Record<string, { warm?: boolean; capacity?: number; capacityInUse?: number }> }>;
  return {
    address: s.address,
    source: s.source,
    discoveryScore: s.score,
    region: s.region ?? null,
    reachable: s.reachable,
    lastError: s.lastError ?? null,
    lastRefreshAt: iso(s.infoAt),
    nextRefreshAt: new Date(s.nextRefreshAt).toISOString(),
    transcoder: s.info?.transcoder ?? null,
    version: caps?.version || null,
    price: s.info?.priceInfo ? { pricePerUnit: s.info.priceInfo.pricePerUnit ?? 0, pixelsPerUnit: s.info.priceInfo.pixelsPerUnit || 1 } : null,
    capabilities: bitstringToList(caps?.bitstring).map((id) => ({
      id,
      name: capabilityName(id),
      capacity: Object.hasOwn(capacities, String(id)) ? capacities[String(id)]! : null,
      models: Object.fromEntries(
        Object.entries(per[String(id)]?.models ?? {}).map(([m, c]) => [m, { warm: !!c.warm, capacity: c.capacity ?? 0, capacityInUse: c.capacityInUse ?? 0 }]),
      ),
    })),
    capabilitiesPrices: (s.info?.capabilitiesPrices ?? []).map((p) => ({
      capability: p.capability ?? 0,
      modelId: p.constraint ?? "",
      pricePerUnit: p.pricePerUnit ?? 0,
      pixelsPerUnit: p.pixelsPerUnit || 1,
    })),
    tokenExpiresAt: s.info?.authToken?.expiration ? new Date(s.info.authToken.expiration * 1000).toISOString() : null,
    latencyMs: s.latencyMs === undefined ? null : Math.round(s.latencyMs),
    reliability: Math.round(s.reliability * 1000) / 1000,
    successes: s.successes,
    failures: s.failures,
    busy: s.busy,
    suspendedUntil: s.suspendedUntil !== undefined && s.suspendedUntil > now ? iso(s.suspendedUntil) : null,
    penaltyLevel: s.penaltyLevel,
    apps: s.apps || s.appsError ? { runners: s.apps?.runners ?? [], byoc: s.apps?.byoc ?? [], lastRefreshAt: iso(s.appsAt), lastError: s.appsError ?? null } : null,
  };
}

// ------------------------------------------------------------ the registry's events

export interface FailureContext {
  requestId?: string;
  streamId?: string;
}

export interface Suspension {
  address: string;
  kind: FailureKind;
  suspendedMs: number;
  until: number;
  penaltyLevel: number;
  context?: FailureContext;
}

/** Every report the registry takes, as it happens (the dashboard's per-orchestrator figures). */
export type CallReport = { address: string; result: "ok"; latencyMs: number } | { address: string; result: "failed"; kind: FailureKind } | { address: string; result: "busy" };

export interface RegistryEvents {
  /** An orchestrator was suspended after a fault. */
  suspended: [Suspension];
  /** A suspension ran out: the orchestrator is selectable again. */
  recovered: [address: string];
  call: [CallReport];
}
