// How one call's outcome moves an orchestrator's health: latency and reliability as moving
// averages, penalty levels that double a suspension per consecutive fault (timeouts never
// escalate: under load every orchestrator times out now and then), a trial success that ends a
// suspension at once, and which client errors are faults at all.
import { OrchestratorRpcError } from "../../protocol/grpc-client.ts";
import { TranscodeError } from "../../protocol/transcode-client.ts";
import type { FailureKind, OrchState } from "./orchestrator-state.ts";

const LATENCY_ALPHA = 0.3;
const RELIABILITY_ALPHA = 0.2;
/** Penalty levels stop here (the suspension is capped by the max anyway). */
const MAX_PENALTY_LEVEL = 20;

/** A success: averages move, the penalty eases. True when it ended an announced suspension. */
export function recordSuccess(s: OrchState, latencyMs: number, now: number): boolean {
  s.successes++;
  s.latencyMs = s.latencyMs === undefined ? latencyMs : s.latencyMs + LATENCY_ALPHA * (latencyMs - s.latencyMs);
  s.reliability += RELIABILITY_ALPHA * (1 - s.reliability);
  if (s.suspendedUntil !== undefined && s.suspendedUntil > now) {
    // A trial request succeeded: the orchestrator is healthy again, end the suspension now.
    s.suspendedUntil = undefined;
    s.suspendedAt = undefined;
    s.penaltyLevel = Math.max(0, s.penaltyLevel - 1);
    if (s.suspensionOpen) {
      s.suspensionOpen = false;
      return true;
    }
  } else if (s.penaltyLevel > 0) s.penaltyLevel--;
  return false;
}

/** A fault of any kind counts against reliability. */
export function recordFailure(s: OrchState, kind: FailureKind): void {
  s.failures++;
  s.lastFailureKind = kind;
  s.reliability -= RELIABILITY_ALPHA * s.reliability;
}

/** The penalty level after this fault, and the suspension it earns (ms). */
export function suspend(s: OrchState, kind: FailureKind, baseMs: number, maxMs: number): number {
  s.penaltyLevel = kind === "timeout" ? Math.max(1, Math.min(s.penaltyLevel, 1)) : Math.min(s.penaltyLevel + 1, MAX_PENALTY_LEVEL);
  return Math.min(maxMs, baseMs * 2 ** (s.penaltyLevel - 1));
}

/** A client error as a report: busy (capacity), ignore (we aborted), or the fault's kind. */
export function classifyError(err: unknown): FailureKind | "busy" | "ignore" {
  if (err instanceof TranscodeError) {
    switch (err.kind) {
      case "busy":
      case "capped":
        return "busy";
      case "aborted":
        return "ignore";
      case "auth":
      case "payment":
      case "network":
      case "timeout":
      case "bad-result":
      case "transcode-failed":
        return err.kind;
      case "download":
        return "bad-result";
      default:
        return "other";
    }
  }
  if (err instanceof OrchestratorRpcError) return err.unreachable ? "network" : "other";
  return "other";
}
