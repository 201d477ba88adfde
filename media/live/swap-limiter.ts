// At most `max` swaps per sliding window: a stream whose orchestrators keep failing is ended
// instead of hopping forever.
export class SwapLimiter {
  private readonly times: number[] = [];

  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {}

  /** Records a swap at `now`; false when that swap goes over the limit. */
  allow(now = Date.now()): boolean {
    this.times.push(now);
    while (this.times.length && this.times[0]! <= now - this.windowMs) this.times.shift();
    return this.times.length <= this.max;
  }

  /** Swaps inside the window. */
  count(now = Date.now()): number {
    return this.times.filter((t) => t > now - this.windowMs).length;
  }
}
