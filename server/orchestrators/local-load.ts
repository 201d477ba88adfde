// Whether this gateway process is overloaded right now, judged by its own event-loop delay:
// a timeout while our loop lags is not evidence against the orchestrator we were waiting for.
// The delay comes from the process's one sampler (core/metrics.ts `loopDelay`, every 50 ms,
// shared with the Prometheus lag gauges), not a sampler of its own: each one wakes an idle
// process 20 times a second.
import { loopDelay } from "../../core/metrics.ts";
import type { LoopDelay } from "../../core/loop-delay.ts";

/** p99 event-loop delay above this (over the last ~2 s window) means "overloaded". */
export const OVERLOAD_LOOP_DELAY_MS = 100;

export class LocalLoad {
  constructor(private readonly delay: LoopDelay = loopDelay) {}

  /**
   * p99 event-loop delay (ms) over the last completed window (2 s or more) and the current one;
   * a free loop reads the sampling period, 50 ms.
   */
  loopDelayP99Ms(): number {
    return this.delay.recentP99Ms();
  }

  overloaded(): boolean {
    return this.loopDelayP99Ms() > OVERLOAD_LOOP_DELAY_MS;
  }
}
