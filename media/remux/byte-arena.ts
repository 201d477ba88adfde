// Hands out consecutive slices of larger slabs, so a live stream's many small outputs share a few allocations.
//
// Why: FlvToTs writes one buffer per RTMP message (about 80 a second per stream); each was its own
// ArrayBuffer, and the HLS window keeps 28 s of them. Slices of 64 KiB slabs are a handful of
// allocations per second instead, the splitter joins adjacent slices into one view, and nothing
// is copied on the way to the segment (bench/ingest.ts: with per-message buffers, allocation, GC
// and the segment concat were a third of Wharf's CPU per stream). A slab lives until every slice
// of it is gone; the window frees them in the order they were filled.
//
// With a SlabPool, slabs come from the pool and go back to it once every segment holding slices of
// them released it (core/slab-pool.ts says why): the arena retains the slab it writes into until it
// moves on to the next, or until `close`.
import type { SlabPool } from "../../core/slab-pool.ts";

/** Slab size: under glibc's default mmap threshold (128 KiB), so freed slabs are reused without new page faults. */
export const DEFAULT_SLAB_BYTES = 64 * 1024;

export class ByteArena {
  private slab: Buffer = Buffer.alloc(0);
  private used = 0;
  private readonly slabBytes: number;
  private readonly pool?: SlabPool;
  /** The current slab is the pool's (retained by this arena). */
  private pooled = false;

  constructor(source: number | SlabPool = DEFAULT_SLAB_BYTES) {
    if (typeof source === "number") this.slabBytes = source;
    else {
      this.pool = source;
      this.slabBytes = source.slabBytes;
    }
  }

  /** `size` writable bytes (not zeroed), right after the previous slice when they fit in the slab. */
  take(size: number): Buffer {
    if (this.used + size > this.slab.length) {
      this.close();
      // A slice larger than a slab gets memory of its own (the pool's slabs are all one size).
      this.pooled = this.pool !== undefined && size <= this.slabBytes;
      this.slab = this.pooled ? this.pool!.take() : Buffer.allocUnsafeSlow(Math.max(this.slabBytes, size));
      this.used = 0;
    }
    const slice = this.slab.subarray(this.used, this.used + size);
    this.used += size;
    return slice;
  }

  /** Done writing: the current slab is left to the segments holding its slices. */
  close(): void {
    if (this.pooled) this.pool!.release(this.slab.buffer);
    this.pooled = false;
    this.slab = Buffer.alloc(0);
    this.used = 0;
  }
}
