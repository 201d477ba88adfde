// Whether this gateway process is overloaded right now, judged by its own event-loop delay:
// a timeout while our loop lags is not evidence against the orchestrator we were waiting for.
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

/** p99 event-loop delay above this (over the last window) means "overloaded". */
export const OVERLOAD_LOOP_DELAY_MS = 100;
/** The window the delay is measured over. */
const WINDOW_MS = 2000;

export class LocalLoad {
  // A 50 ms sampling timer still measures a 100 ms lag (the timer fires that late) and wakes an
  // idle process 20 times a second rather than 50.
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 50 });
  private windowStart = Date.now();
  private lastP99Ms = 0;

  constructor() {
    this.histogram.enable();
  }

  /** p99 event-loop delay (ms) over the last completed window. */
  loopDelayP99Ms(): number {
    const now = Date.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.lastP99Ms = this.histogram.percentile(99) / 1e6;
      this.histogram.reset();
      this.windowStart = now;
    }
    return Math.max(this.lastP99Ms, this.histogram.count > 0 ? this.histogram.percentile(99) / 1e6 : 0);
  }

  overloaded(): boolean {
    return this.loopDelayP99Ms() > OVERLOAD_LOOP_DELAY_MS;
  }

  stop(): void {
    this.histogram.disable();
  }
}
