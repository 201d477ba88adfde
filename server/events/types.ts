// The events Wharf tells operators about: one name and data shape per kind. Where a kind is
// also a webhook (a later issue), it has the webhook's name (stream.started, stream.idle,
// stream.deleted, stream.orchestrator_swap, stream.error, key.spend_cap_reached, key.revoked).

export interface WharfEventData {
  /** A publisher went live. */
  "stream.started": { streamId: string; name: string; pipeline: string; protocol: string; ownerKeyId: string | null };
  /** The publisher's session ended (the stream record stays). */
  "stream.idle": { streamId: string; name: string; reason: string; detail?: string };
  /** The stream was deleted. */
  "stream.deleted": { streamId: string };
  /** Live AI failover: the stream moved to another orchestrator. */
  "stream.orchestrator_swap": { streamId: string; reason: string; detail: string; from: string; to: string };
  /** The gateway ended the stream because it could not be served (reason "failed"). */
  "stream.error": { streamId: string; name: string; reason: string; detail?: string };
  /** A publisher of a known stream was turned away at admission. */
  "stream.refused": { streamId: string; status: number; reason: string };
  /** An orchestrator was suspended after a fault (requestId/streamId: where it happened, when known). */
  "orchestrator.suspended": { address: string; kind: string; suspendedMs: number; until: string; penaltyLevel: number; requestId?: string; streamId?: string };
  /** Its suspension ran out: selectable again. */
  "orchestrator.recovered": { address: string };
  /** A recorded session's MP4 and VOD playlist are ready (GET /v1/recordings/{id}). */
  "recording.ready": { recordingId: string; streamId: string; durationSeconds: number; size: number; hlsUrl: string; mp4Url: string };
  /** A multistream target accepted the push (url with its stream key hidden). */
  "multistream.connected": { streamId: string; target: number; url: string; rendition: string };
  /** The push to a multistream target failed; it is retried with backoff. */
  "multistream.error": { streamId: string; target: number; url: string; rendition: string; error: string };
  /** The push to a multistream target ended (the stream ended or the target was removed). */
  "multistream.disconnected": { streamId: string; target: number; url: string; rendition: string };
  "key.revoked": { keyId: string };
  /** A persistent app session ended (stopped, its runner or orchestrator failed, payment, spend cap). */
  "app.session_ended": { sessionId: string; app: string; keyId: string; orchestrator: string; reason: string; detail?: string; durationSeconds: number };
  /** A key reached a spend cap (once per key, cap and cap period; refusals after that are counted in metrics). */
  "key.spend_cap_reached": { keyId: string; cap: string; capMicros: number; spentMicros: number; resetsAt: string };
}

export type WharfEventType = keyof WharfEventData;

export const WHARF_EVENT_TYPES: readonly WharfEventType[] = [
  "stream.started",
  "stream.idle",
  "stream.deleted",
  "stream.orchestrator_swap",
  "stream.error",
  "stream.refused",
  "orchestrator.suspended",
  "orchestrator.recovered",
  "recording.ready",
  "multistream.connected",
  "multistream.error",
  "multistream.disconnected",
  "key.revoked",
  "key.spend_cap_reached",
  "app.session_ended",
];

/** One event as published: ids grow (across restarts too, see bus.ts); `at` is ISO 8601. */
export type WharfEvent = { [T in WharfEventType]: { id: number; type: T; at: string; data: WharfEventData[T] } }[WharfEventType];

export function isWharfEventType(s: string): s is WharfEventType {
  return (WHARF_EVENT_TYPES as readonly string[]).includes(s);
}
