// Failure detection for the active orchestrator session, from timers (errors and
// end-of-stream are reported by the session itself). Input stopping is never a failure:
// both checks only run while input flows, and their clocks restart when input resumes.
import type { LiveFailureReason } from "./orchestrator-session.ts";

export interface DetectorInput {
  now: number;
  /** Last input byte from the publisher (undefined: none yet). */
  lastInputAt: number | undefined;
  /** First input byte after a pause. */
  inputResumedAt: number | undefined;
  /** When this session became active. */
  activatedAt: number;
  lastOutputAt: number | undefined;
  lastEventAt: number | undefined;
}

export interface DetectorConfig {
  /** No input byte for this long = input stopped (default 1 s). */
  inputIdleMs: number;
  /** No output for this long while input flows = failure. */
  noOutputMs: number;
  /** No event for this long while input flows = failure (0 = off). */
  eventSilenceMs: number;
}

/** A failure the timers see, or undefined. */
export function detectFailure(s: DetectorInput, c: DetectorConfig): { reason: LiveFailureReason; detail: string } | undefined {
  if (s.lastInputAt === undefined || s.now - s.lastInputAt >= c.inputIdleMs) return undefined;
  const clockStart = Math.max(s.activatedAt, s.inputResumedAt ?? 0);
  const outputSince = Math.max(clockStart, s.lastOutputAt ?? 0);
  if (s.now - outputSince > c.noOutputMs) {
    return { reason: "no-output", detail: `no output for ${s.now - outputSince} ms while input flows (limit ${c.noOutputMs} ms)` };
  }
  if (c.eventSilenceMs > 0) {
    const eventSince = Math.max(clockStart, s.lastEventAt ?? 0);
    if (s.now - eventSince > c.eventSilenceMs) {
      return { reason: "events-silent", detail: `no status event for ${s.now - eventSince} ms while input flows (limit ${c.eventSilenceMs} ms)` };
    }
  }
  return undefined;
}
