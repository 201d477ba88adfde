// In-memory model of a trickle channel: a ring of the last RING_SIZE segments,
// each an append-only byte buffer that readers follow live. Transport-free: the
// HTTP handlers in server.ts and the in-process publish/subscribe API both sit
// on top of this. Semantics follow go-livepeer's trickle server.

/** Segments kept per channel (slot = seq mod RING_SIZE). */
export const RING_SIZE = 5;

/** One segment: bytes appended while the publisher writes, then closed. */
export class Segment {
  readonly seq: number;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private isClosed = false;
  private waiters: Array<() => void> = [];
  private closeListeners: Array<() => void> = [];

  constructor(seq: number) {
    this.seq = seq;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get byteLength(): number {
    return this.size;
  }

  /** Not written to yet and still open (a preconnected slot). */
  get fresh(): boolean {
    return !this.isClosed && this.size === 0;
  }

  /** Appends bytes and wakes readers. Writes to a closed segment are dropped (returns false). */
  write(chunk: Uint8Array): boolean {
    if (this.isClosed) return false;
    if (chunk.length === 0) return true;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.chunks.push(buf);
    this.size += buf.length;
    this.wake();
    return true;
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.wake();
    const listeners = this.closeListeners;
    this.closeListeners = [];
    for (const l of listeners) l();
  }

  /** Calls `fn` once when the segment closes (immediately if already closed). Returns an unsubscribe function. */
  onClose(fn: () => void): () => void {
    if (this.isClosed) {
      fn();
      return () => {};
    }
    this.closeListeners.push(fn);
    return () => {
      this.closeListeners = this.closeListeners.filter((l) => l !== fn);
    };
  }

  /** A reader starting at byte 0: a late joiner gets everything so far, then the rest live. */
  reader(): SegmentReader {
    return new SegmentReader(this);
  }

  /** @internal */
  chunkCount(): number {
    return this.chunks.length;
  }

  /** @internal */
  chunksFrom(index: number): Buffer[] {
    return this.chunks.slice(index);
  }

  /** @internal resolves on the next write or close */
  waitForChange(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
}

/** Follows one segment from byte 0 to its close. */
export class SegmentReader implements AsyncIterableIterator<Buffer> {
  private index = 0;
  private cancelled = false;
  private cancelWait: (() => void) | undefined;

  constructor(readonly segment: Segment) {}

  /** Bytes available now (all of them, concatenated), waiting if there are none; null at the end of the segment. */
  async read(): Promise<Buffer | null> {
    for (;;) {
      if (this.cancelled) return null;
      if (this.index < this.segment.chunkCount()) {
        const chunks = this.segment.chunksFrom(this.index);
        this.index += chunks.length;
        return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      }
      if (this.segment.closed) return null;
      await new Promise<void>((resolve) => {
        this.cancelWait = resolve;
        void this.segment.waitForChange().then(resolve);
      });
      this.cancelWait = undefined;
    }
  }

  /** Stops the reader; a pending read() resolves to null. */
  cancel(): void {
    this.cancelled = true;
    this.cancelWait?.();
  }

  async next(): Promise<IteratorResult<Buffer>> {
    const chunk = await this.read();
    return chunk === null ? { done: true, value: undefined } : { done: false, value: chunk };
  }

  async return(): Promise<IteratorResult<Buffer>> {
    this.cancel();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export interface ReadTarget {
  /** The resolved seq (after -1/-2 substitution). */
  seq: number;
  /** The segment to read, when it exists (or was pre-created for a reader just ahead of the writer). */
  segment: Segment | undefined;
  /** The channel's next write index when the read was resolved. */
  latest: number;
  closed: boolean;
}

export class Channel {
  readonly name: string;
  mimeType: string;
  /** The server's next write index (advanced when the first byte of a segment arrives). */
  nextWrite = 0;
  /** Last time a segment started (or the channel was created); drives the idle sweep. */
  writeTime = Date.now();
  closed = false;
  readonly createdAt = Date.now();
  private ring: Array<Segment | undefined> = new Array(RING_SIZE).fill(undefined);

  constructor(name: string, mimeType: string) {
    this.name = name;
    this.mimeType = mimeType;
  }

  static slot(seq: number): number {
    return ((seq % RING_SIZE) + RING_SIZE) % RING_SIZE;
  }

  /** The segment currently held for `seq`, if the ring still has it. */
  peek(seq: number): Segment | undefined {
    const s = this.ring[Channel.slot(seq)];
    return s && s.seq === seq ? s : undefined;
  }

  resolveWriteSeq(seq: number): number {
    return seq === -1 ? this.nextWrite : seq;
  }

  /**
   * The segment a publisher writes `seq` into. A fresh (preconnected) segment with that seq is
   * reused, so subscribers already waiting on it get the bytes; anything else in the slot (an older
   * segment, or a finished/closed one with the same seq being re-published) is closed and replaced.
   */
  getForWrite(seq: number): Segment {
    const slot = Channel.slot(seq);
    const existing = this.ring[slot];
    if (existing) {
      if (existing.seq === seq && existing.fresh) return existing;
      existing.close();
    }
    const segment = new Segment(seq);
    if (this.closed) segment.close();
    this.ring[slot] = segment;
    return segment;
  }

  /** Called when the first byte of `seq` arrives. */
  markWriteStarted(seq: number): void {
    this.nextWrite = seq + 1;
    this.writeTime = Date.now();
  }

  /**
   * Resolves a subscribe request: -1 = the next segment to be written, -2 = the one being written
   * now. A reader at the write head (or at 1 before anything was written) gets a pre-created
   * segment to wait on; a seq that fell out of the ring or is further ahead gets no segment (470).
   */
  getForRead(requested: number): ReadTarget {
    let seq = requested;
    if (seq === -1) seq = this.nextWrite;
    else if (seq === -2) seq = this.nextWrite > 0 ? this.nextWrite - 1 : 0;
    let segment = this.peek(seq);
    if (!segment && !this.closed && (seq === this.nextWrite || (this.nextWrite === 0 && seq === 1))) {
      const slot = Channel.slot(seq);
      this.ring[slot]?.close();
      segment = new Segment(seq);
      this.ring[slot] = segment;
    }
    return { seq, segment, latest: this.nextWrite, closed: this.closed };
  }

  /**
   * `Lp-Trickle-Reset` on a publish of `seq`: a publisher (re)starts at `seq`. Closes every other
   * segment still open (unblocking subscribers of an earlier publisher) except `seq` itself and
   * `seq + 1` (the publisher's own preconnect), and moves the write head to `seq`.
   */
  reset(seq: number): void {
    for (const s of this.ring) {
      if (s && s.seq !== seq && s.seq !== seq + 1) s.close();
    }
    this.nextWrite = seq;
  }

  /** Closes one segment; false if the ring does not hold it. */
  closeSegment(seq: number): boolean {
    const s = this.peek(seq);
    if (!s) return false;
    s.close();
    return true;
  }

  /** Closes the channel and every segment in it (readers and preconnected writers end). */
  close(): void {
    this.closed = true;
    for (const s of this.ring) s?.close();
  }

  /** The seqs the ring holds now, oldest first (for diagnostics). */
  segments(): Array<{ seq: number; bytes: number; closed: boolean }> {
    return this.ring
      .filter((s): s is Segment => s !== undefined)
      .sort((a, b) => a.seq - b.seq)
      .map((s) => ({ seq: s.seq, bytes: s.byteLength, closed: s.closed }));
  }
}
