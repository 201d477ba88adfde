// Getting a running session at some orchestrator: walk the selected candidates, start a
// session at the first that accepts; busy (503) is not a fault, anything else is reported.
import type { AuthToken } from "../../protocol/messages.ts";
import type { ClientTlsPolicy } from "../../protocol/tls.ts";
import { moduleLogger } from "../../core/log.ts";
import { LiveStartError, OrchSession, requestLiveSession, type ChunkClock, type LiveFailureReason, type StartErrorKind } from "./orchestrator-session.ts";

const log = moduleLogger("live-acquire");

export interface LiveCandidate {
  address: string;
  transcoder: string;
  authToken: AuthToken;
  /** Wei per output pixel. */
  pricePerPixelWei: number;
}

/** What the live session needs from orchestrator selection (server/orchestrators adapts the registry). */
export interface LiveRouting {
  /** Best orchestrators for this stream's model, not in `exclude`. */
  candidates(exclude: ReadonlySet<string>, count: number): LiveCandidate[];
  success(address: string, latencyMs: number): void;
  failure(address: string, reason: LiveFailureReason | StartErrorKind, detail: string): void;
  busy(address: string): void;
}

export interface AcquireOptions {
  routing: LiveRouting;
  modelId: string;
  streamId: string;
  params: () => Record<string, unknown>;
  requestId: () => string;
  inputIdleMs: number;
  clock?: ChunkClock;
  onIngestLatency?: (ms: number) => void;
  tls?: ClientTlsPolicy;
  startTimeoutMs?: number;
  paymentIntervalMs?: number;
}

/** Starts a session at the best candidate outside `exclude`; undefined when none accepted. */
export async function acquireSession(o: AcquireOptions, exclude: ReadonlySet<string>, tried: string[] = []): Promise<OrchSession | undefined> {
  const candidates = o.routing.candidates(exclude, 4);
  for (const c of candidates) {
    tried.push(c.address);
    const t0 = Date.now();
    try {
      const urls = await requestLiveSession(
        c,
        { modelId: o.modelId, params: o.params(), streamId: o.streamId, requestId: o.requestId() },
        { timeoutMs: o.startTimeoutMs ?? 5000, tls: o.tls },
      );
      o.routing.success(c.address, Date.now() - t0);
      return new OrchSession(c, urls, {
        modelId: o.modelId,
        inputIdleMs: o.inputIdleMs,
        clock: o.clock,
        onIngestLatency: o.onIngestLatency,
        tls: o.tls,
        paymentIntervalMs: o.paymentIntervalMs,
      });
    } catch (err) {
      const e = err instanceof LiveStartError ? err : new LiveStartError("other", (err as Error).message);
      if (e.kind === "busy") o.routing.busy(c.address);
      else o.routing.failure(c.address, e.kind, e.message);
      log.info({ stream: o.streamId, address: c.address, kind: e.kind, err: e.message }, "live session start refused");
    }
  }
  return undefined;
}
