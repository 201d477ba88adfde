// What feeds the event bus: the hub (streams), the orchestrator registry (suspensions) and
// the accounts (keys, spend caps), translated into Wharf events.
import type { Refusal, StreamHub } from "../../media/hub/hub.ts";
import type { OrchestratorSwap, Stream } from "../../media/hub/stream.ts";
import type { EndReason } from "../../media/hub/types.ts";
import type { Accounts } from "../accounts/index.ts";
import type { OrchestratorRegistry, Suspension } from "../orchestrators/registry.ts";
import type { EventBus } from "./bus.ts";

/** The same refusal of the same stream is told once per this long (an encoder retrying every second is one event). */
const REFUSAL_REPEAT_MS = 60_000;

export interface EventSources {
  hub: StreamHub;
  registry: OrchestratorRegistry;
  accounts: Accounts;
  now?: () => number;
}

/** Wires the sources to the bus; returns a function that detaches every listener. */
export function feedEventBus(bus: EventBus, src: EventSources): () => void {
  const now = src.now ?? Date.now;
  const { hub, registry, accounts } = src;

  // --- streams
  const swapListeners = new Map<Stream, (s: OrchestratorSwap) => void>();
  const published = (stream: Stream) => {
    bus.publish("stream.started", {
      streamId: stream.id,
      name: stream.record.name,
      pipeline: stream.record.pipeline,
      protocol: stream.session?.protocol ?? "unknown",
      ownerKeyId: stream.record.ownerKeyId ?? null,
    });
    if (swapListeners.has(stream)) return;
    const fn = (s: OrchestratorSwap) => bus.publish("stream.orchestrator_swap", { streamId: stream.id, reason: s.reason, detail: s.detail, from: s.from, to: s.to });
    stream.on("orchestratorSwap", fn);
    swapListeners.set(stream, fn);
  };
  const unpublished = (stream: Stream, reason: EndReason) => {
    const detail = stream.lastEndDetail;
    const data = { streamId: stream.id, name: stream.record.name, reason, ...(detail ? { detail } : {}) };
    bus.publish("stream.idle", data);
    if (reason === "failed") bus.publish("stream.error", data);
  };
  const removed = (streamId: string) => {
    for (const [stream, fn] of swapListeners) {
      if (stream.id !== streamId) continue;
      stream.off("orchestratorSwap", fn);
      swapListeners.delete(stream);
    }
    bus.publish("stream.deleted", { streamId });
  };
  const lastRefusal = new Map<string, { text: string; at: number }>();
  const refused = (stream: Stream, r: Refusal) => {
    const t = now();
    const text = `${r.status} ${r.reason}`;
    const last = lastRefusal.get(stream.id);
    if (last && last.text === text && t - last.at < REFUSAL_REPEAT_MS) return;
    lastRefusal.delete(stream.id);
    lastRefusal.set(stream.id, { text, at: t });
    if (lastRefusal.size > 10_000) lastRefusal.delete(lastRefusal.keys().next().value!);
    bus.publish("stream.refused", { streamId: stream.id, status: r.status, reason: r.reason });
  };
  hub.on("published", published);
  hub.on("unpublished", unpublished);
  hub.on("removed", removed);
  hub.on("refused", refused);

  // --- orchestrators
  const suspended = (s: Suspension) =>
    bus.publish("orchestrator.suspended", {
      address: s.address,
      kind: s.kind,
      suspendedMs: s.suspendedMs,
      until: new Date(s.until).toISOString(),
      penaltyLevel: s.penaltyLevel,
      ...(s.context?.requestId ? { requestId: s.context.requestId } : {}),
      ...(s.context?.streamId ? { streamId: s.context.streamId } : {}),
    });
  const recovered = (address: string) => bus.publish("orchestrator.recovered", { address });
  registry.on("suspended", suspended);
  registry.on("recovered", recovered);

  // --- keys
  const keyRevoked = (keyId: string) => bus.publish("key.revoked", { keyId });
  // Every refused request reports the cap; the event says it once per key, cap, cap amount and period.
  const capsTold = new Map<string, number>();
  const spendCapReached = (keyId: string, d: { cap: string; capMicros: number; spentMicros: number; resetsAt: number }) => {
    const t = now();
    for (const [k, resetsAt] of capsTold) if (resetsAt <= t) capsTold.delete(k);
    const k = `${keyId}|${d.cap}|${d.capMicros}|${d.resetsAt}`;
    if (capsTold.has(k)) return;
    if (capsTold.size >= 10_000) capsTold.delete(capsTold.keys().next().value!);
    capsTold.set(k, d.resetsAt);
    bus.publish("key.spend_cap_reached", { keyId, cap: d.cap, capMicros: d.capMicros, spentMicros: d.spentMicros, resetsAt: new Date(d.resetsAt).toISOString() });
  };
  accounts.on("keyRevoked", keyRevoked);
  accounts.on("spendCapReached", spendCapReached);

  return () => {
    hub.off("published", published);
    hub.off("unpublished", unpublished);
    hub.off("removed", removed);
    hub.off("refused", refused);
    for (const [stream, fn] of swapListeners) stream.off("orchestratorSwap", fn);
    swapListeners.clear();
    registry.off("suspended", suspended);
    registry.off("recovered", recovered);
    accounts.off("keyRevoked", keyRevoked);
    accounts.off("spendCapReached", spendCapReached);
  };
}
