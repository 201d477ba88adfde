// Getting a running session at some orchestrator: walk the selected candidates, start a
// session at the first that accepts; busy (503) is not a fault, anything else is reported.
import type { AuthToken } from "../../protocol/messages.ts";
import type { LivePaymentSession } from "../../protocol/payments/live-payments.ts";
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
  /** A payment session for a candidate that wants tickets (absent or undefined: not paid). */
  payments?(candidate: LiveCandidate): LivePaymentSession | undefined;
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
  /** Ticket EV sent for this stream's sessions, wei. */
  onPaid?: (wei: bigint) => void;
}

/** Starts a session at the best candidate outside `exclude`; undefined when none accepted. */
export async function acquireSession(o: AcquireOptions, exclude: ReadonlySet<string>, tried: string[] = []): Promise<OrchSession | undefined> {
  const candidates = o.routing.candidates(exclude, 4);
  for (const c of candidates) {
    tried.push(c.address);
    const t0 = Date.now();
    const payment = o.routing.payments?.(c);
    let first;
    if (payment) {
      try {
        first = await payment.first();
      } catch (err) {
        // No unpaid start is sent; not the orchestrator's fault, so no penalty.
        log.warn({ stream: o.streamId, address: c.address, err: (err as Error).message }, "live session could not be paid; trying another orchestrator");
        continue;
      }
    }
    try {
      const urls = await requestLiveSession(
        c,
        { modelId: o.modelId, params: o.params(), streamId: o.streamId, requestId: o.requestId() },
        { timeoutMs: o.startTimeoutMs ?? 5000, tls: o.tls, payment: first },
      );
      payment?.setManifestId(urls.manifestId);
      if (payment && payment.paidWei > 0n) o.onPaid?.(payment.paidWei);
      o.routing.success(c.address, Date.now() - t0);
      return new OrchSession(c, urls, {
        payment,
        onPaid: o.onPaid,
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
