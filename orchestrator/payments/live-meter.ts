// The meter of one live-video-to-video session (go-livepeer server/live_payment_processor.go):
// paced by input segments, at most once per payment interval it bills the time elapsed since the
// last bill as 1280x720x30 pixels per second. Only whole pixels are billed, and the clock advances
// by exactly what was billed, so the fractions carry over to the next bill.
import { LV2V_PIXELS_PER_SECOND } from "./work-units.ts";

export const DEFAULT_LIVE_PAYMENT_INTERVAL_MS = 5_000;

export class LiveMeter {
  private lastBilledAtMs: number;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
    private readonly pixelsPerSecond = LV2V_PIXELS_PER_SECOND,
  ) {
    this.lastBilledAtMs = now();
  }

  /**
   * Called for every input segment: the pixels to bill now, or 0 when the interval has not passed
   * yet. The caller charges them (and ends the session when the balance cannot pay).
   */
  onInputSegment(): number {
    const now = this.now();
    if (now < this.lastBilledAtMs + this.intervalMs) return 0;
    const units = Math.floor((this.pixelsPerSecond * (now - this.lastBilledAtMs)) / 1000);
    this.lastBilledAtMs += (units / this.pixelsPerSecond) * 1000;
    return units;
  }
}
