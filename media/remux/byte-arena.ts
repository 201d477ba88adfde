// Hands out consecutive slices of larger slabs, so a live stream's many small outputs share a few allocations.
//
// Why: FlvToTs writes one buffer per RTMP message (about 80 a second per stream); each was its own
// ArrayBuffer, and the HLS window keeps 28 s of them. Slices of 64 KiB slabs are a handful of
// allocations per second instead, the splitter joins adjacent slices into one view, and nothing
// is copied on the way to the segment (bench/ingest.ts: with per-message buffers, allocation, GC
// and the segment concat were a third of Wharf's CPU per stream). A slab lives until every slice
// of it is gone; the window frees them in the order they were filled.

/** Slab size: under glibc's default mmap threshold (128 KiB), so freed slabs are reused without new page faults. */
export const DEFAULT_SLAB_BYTES = 64 * 1024;

export class ByteArena {
  private slab: Buffer = Buffer.alloc(0);
  private used = 0;

  constructor(private readonly slabBytes = DEFAULT_SLAB_BYTES) {}

  /** `size` writable bytes (not zeroed), right after the previous slice when they fit in the slab. */
  take(size: number): Buffer {
    if (this.used + size > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(Math.max(this.slabBytes, size));
      this.used = 0;
    }
    const slice = this.slab.subarray(this.used, this.used + size);
    this.used += size;
    return slice;
  }
}
