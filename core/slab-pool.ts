// Fixed-size byte slabs handed out again once every holder released them.
//
// Why our own and not a library: what it saves is garbage collections, and only an owner of the
// whole lifetime can say when a slab is free. Live ingest writes its MPEG-TS output into 64 KiB
// slabs (media/remux/byte-arena.ts) that the HLS window keeps for 28 s. Each new slab is a new
// ArrayBuffer, and V8 counts those as external memory: at 10 streams (3.4 MB/s) that growth started
// a full mark-compact of the whole heap every 2.5 s ("external memory pressure", --trace-gc),
// which was what put Wharf's ingest CPU above nginx-rtmp's. Recycled slabs are not new memory.
//
// A slab is counted: each holder (the arena writing into it, each segment holding slices of it)
// retains it once and releases it once. At zero it is overwritten with a filler byte (so a reader
// that kept a view without retaining sees garbage at once, in tests, rather than someone else's
// video later) and kept for the next taker, up to `maxFree` slabs; past that it is left to the GC.

/** A slab's filler once it is free: not 0x47, so no recycled slab parses as MPEG-TS. */
export const FREED_SLAB_FILL = 0xee;

export interface SlabPoolStats {
  /** Slabs allocated over the pool's life. */
  allocated: number;
  /** Takes served by a recycled slab. */
  reused: number;
  /** Slabs free for the next take. */
  free: number;
  /** Slabs some holder retains now. */
  inUse: number;
}

export class SlabPool {
  private readonly free: Buffer[] = [];
  /** Retain counts by slab memory; a slab not in here is not the pool's (retain says so). */
  private readonly refs = new WeakMap<ArrayBufferLike, { slab: Buffer; count: number; abandoned: boolean }>();
  private allocated = 0;
  private reused = 0;
  private inUse = 0;

  constructor(
    readonly slabBytes = 64 * 1024,
    readonly maxFree = 128,
  ) {}

  /** A slab (not zeroed), retained once for the caller. */
  take(): Buffer {
    let slab = this.free.pop();
    if (slab) this.reused++;
    else {
      slab = Buffer.allocUnsafeSlow(this.slabBytes);
      this.allocated++;
    }
    this.refs.set(slab.buffer, { slab, count: 1, abandoned: false });
    this.inUse++;
    return slab;
  }

  /** One more holder of the slab whose memory is `memory`; false when that is not one of this pool's slabs in use. */
  retain(memory: ArrayBufferLike): boolean {
    const entry = this.refs.get(memory);
    if (!entry) return false;
    entry.count++;
    return true;
  }

  /** A holder is done with the slab; the last one makes it free. */
  release(memory: ArrayBufferLike): void {
    const entry = this.refs.get(memory);
    if (!entry) return;
    if (--entry.count > 0) return;
    this.refs.delete(memory);
    this.inUse--;
    if (entry.abandoned) return; // someone may still read it: the GC frees it once nobody does
    entry.slab.fill(FREED_SLAB_FILL);
    if (this.free.length < this.maxFree) this.free.push(entry.slab);
  }

  /**
   * A holder lets go but cannot say when its readers are done with the bytes (they took views
   * without holding): the slab is never reused, whoever releases it last.
   */
  abandon(memory: ArrayBufferLike): void {
    const entry = this.refs.get(memory);
    if (!entry) return;
    entry.abandoned = true;
    this.release(memory);
  }

  stats(): SlabPoolStats {
    return { allocated: this.allocated, reused: this.reused, free: this.free.length, inUse: this.inUse };
  }
}

/**
 * The process's pool for live ingest output. LiveSegment retains every slab of it whose slices it
 * is given, whoever made the segment: holding slices is what keeps a slab from being reused.
 */
export const ingestSlabs = new SlabPool();
