// Random bytes drawn from the OS 8 KiB at a time: one getrandom() per few hundred ids
// instead of one per id, on paths taken thousands of times a second (request ids,
// result ids).
import { randomBytes } from "node:crypto";

export class RandomPool {
  private buf = Buffer.alloc(0);
  private at = 0;

  constructor(private readonly chunkBytes = 8192) {}

  /** `n` fresh random bytes: a view, valid until the next call (copy or encode it at once). */
  take(n: number): Buffer {
    if (this.at + n > this.buf.length) {
      this.buf = randomBytes(Math.max(this.chunkBytes, n));
      this.at = 0;
    }
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}
