// Memory for small re-hosted AI results: their bytes are packed one after another into
// large chunks instead of one Buffer each. A busy gateway holds hundreds of thousands of
// results for their TTL; as separate objects every one of them would be copied by each
// young-generation GC it survives and then weigh on the old generation. Here the garbage
// collector sees a few large chunks.
// - A position is `chunk * chunkBytes + offset` (a plain number: nothing to allocate).
// - Chunks are append-only and never reused: a Buffer handed out by `view()` stays valid
//   after its result is released (the response being written keeps the chunk alive).
// - A chunk is dropped once it is not the current one and its last result is released.
//   Results expire in creation order, so chunks empty roughly in order too.

export class ResultArena {
  private readonly chunks = new Map<number, { buf: Buffer; live: number }>();
  private current = -1;
  private at = 0;

  constructor(readonly chunkBytes: number) {}

  /** Copies `data` (at most `chunkBytes`) in; returns its position. */
  put(data: Uint8Array): number {
    if (data.length > this.chunkBytes) throw new RangeError(`${data.length} bytes do not fit a ${this.chunkBytes}-byte chunk`);
    let c = this.chunks.get(this.current);
    if (!c || this.at + data.length > this.chunkBytes) {
      if (c && c.live === 0) this.chunks.delete(this.current);
      this.current++;
      c = { buf: Buffer.allocUnsafeSlow(this.chunkBytes), live: 0 };
      this.chunks.set(this.current, c);
      this.at = 0;
    }
    c.buf.set(data, this.at);
    c.live++;
    const pos = this.current * this.chunkBytes + this.at;
    this.at += data.length;
    return pos;
  }

  /** The bytes at `pos` (a view, no copy). */
  view(pos: number, size: number): Buffer {
    const chunk = Math.floor(pos / this.chunkBytes);
    const offset = pos - chunk * this.chunkBytes;
    const c = this.chunks.get(chunk);
    if (!c) throw new RangeError(`position ${pos} is in a released chunk`);
    return c.buf.subarray(offset, offset + size);
  }

  /** The result at `pos` is gone; its chunk is dropped with its last result. */
  release(pos: number): void {
    const chunk = Math.floor(pos / this.chunkBytes);
    const c = this.chunks.get(chunk);
    if (!c) return;
    if (--c.live === 0 && chunk !== this.current) this.chunks.delete(chunk);
  }

  /** Memory held by chunks (live results plus the unused and released space in their chunks). */
  get heldBytes(): number {
    return this.chunks.size * this.chunkBytes;
  }
}
