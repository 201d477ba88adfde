// In-process publishing and subscribing on a trickle server's channels, with the HTTP semantics.
import type { Channel, Segment, SegmentReader } from "./channel.ts";
import type { ChannelRegistry } from "./registry.ts";
import { delay, toBuffer } from "./wire.ts";
import { untilNull } from "./iterate.ts";

/** Opens segment `seq` (-1 = the next write index) of a channel for writing in-process. */
export function openSegmentWriter(server: ChannelRegistry, name: string, seq = -1, opts: { reset?: boolean } = {}): LocalSegmentWriter {
  const ch = server.getChannel(name);
  if (!ch) throw new Error(`unknown trickle channel ${JSON.stringify(name)}`);
  const resolved = ch.resolveWriteSeq(seq);
  if (resolved < 0) throw new Error(`invalid trickle publish seq ${seq}`);
  if (opts.reset) ch.reset(resolved);
  return new LocalSegmentWriter(server, ch, resolved, ch.getForWrite(resolved));
}

/** Writes one whole segment in-process; resolves with its seq. */
export async function writeWholeSegment(server: ChannelRegistry, name: string, data: Uint8Array | string | AsyncIterable<Uint8Array>, seq = -1): Promise<number> {
  const w = openSegmentWriter(server, name, seq);
  try {
    if (typeof data === "string" || data instanceof Uint8Array) w.write(data);
    else for await (const chunk of data) w.write(chunk);
  } finally {
    w.end();
  }
  return w.seq;
}


/** An in-process writer for one segment. */
export class LocalSegmentWriter {
  private total = 0;
  private ended = false;

  constructor(
    private readonly server: ChannelRegistry,
    private readonly channel: Channel,
    readonly seq: number,
    private readonly segment: Segment,
  ) {}

  /** True once ended, or when the segment/channel was closed under the writer. */
  get closed(): boolean {
    return this.ended || this.segment.closed;
  }

  /** Appends bytes (subscribers get them immediately). False if the segment is closed. */
  write(data: Uint8Array | string): boolean {
    if (this.closed) return false;
    const buf = toBuffer(data);
    if (buf.length === 0) return true;
    if (this.total === 0) this.server.noteWriteStarted(this.channel, this.seq);
    this.total += buf.length;
    return this.segment.write(buf);
  }

  /** Ends the segment. */
  end(data?: Uint8Array | string): void {
    if (data !== undefined) this.write(data);
    if (this.ended) return;
    this.ended = true;
    if (this.total === 0 && !this.channel.closed) this.channel.markWriteStarted(this.seq);
    this.segment.close();
  }
}

/** Sequential in-process publisher: next() opens seq n, n+1, ... */
export class LocalPublisher {
  private seq: number;

  constructor(
    private readonly server: ChannelRegistry,
    readonly channel: string,
  ) {
    const ch = server.getChannel(channel);
    if (!ch) throw new Error(`unknown trickle channel ${JSON.stringify(channel)}`);
    this.seq = ch.nextWrite;
  }

  /** The seq the next call to next() opens. */
  get nextSeq(): number {
    return this.seq;
  }

  next(): LocalSegmentWriter {
    return openSegmentWriter(this.server, this.channel, this.seq++);
  }

  /** Writes one whole segment; resolves with its seq. */
  async write(data: Uint8Array | string | AsyncIterable<Uint8Array>): Promise<number> {
    return writeWholeSegment(this.server, this.channel, data, this.seq++);
  }

  /** One JSON message as one segment; returns its seq. */
  writeJson(value: unknown): number {
    const w = this.next();
    w.end(JSON.stringify(value));
    return w.seq;
  }
}

/** A segment delivered to an in-process subscriber; `reader` yields bytes live. */
export interface LocalSegment {
  seq: number;
  reader: SegmentReader;
  buffer(): Promise<Buffer>;
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
}

export type LocalSubscriberEnd = "closed" | "not-found" | "cancelled";

/**
 * In-process subscriber with the HTTP semantics: start at `start` (-1 = next segment, -2 = the
 * current one), follow seq by seq, jump to the live edge when a seq fell out of the ring.
 * Iteration ends when the channel is closed or removed (see `endReason`).
 */
export class LocalSubscriber implements AsyncIterable<LocalSegment> {
  private seq: number;
  private cancelled = false;
  private wakeCancel: (() => void) | undefined;
  endReason: LocalSubscriberEnd | undefined;
  /** Segments skipped because the subscriber fell behind. */
  skipped = 0;

  constructor(
    private readonly server: ChannelRegistry,
    readonly channel: string,
    start: number,
  ) {
    this.seq = start;
  }

  close(): void {
    this.cancelled = true;
    this.endReason ??= "cancelled";
    this.wakeCancel?.();
  }

  /** The next segment once its first byte is written; null at the end of the stream. */
  async next(): Promise<LocalSegment | null> {
    for (;;) {
      if (this.cancelled) return null;
      const ch = this.server.getChannel(this.channel);
      if (!ch) {
        this.endReason ??= "not-found";
        return null;
      }
      const target = ch.getForRead(this.seq);
      const segment = target.segment;
      if (segment) {
        while (segment.fresh && !this.cancelled) {
          await new Promise<void>((resolve) => {
            this.wakeCancel = resolve;
            void segment.waitForChange().then(resolve);
          });
          this.wakeCancel = undefined;
        }
        if (this.cancelled) return null;
        if (segment.byteLength > 0) {
          this.seq = target.seq + 1;
          return makeLocalSegment(target.seq, segment);
        }
      }
      if (ch.closed) {
        this.endReason ??= "closed";
        return null;
      }
      // Gone, too far ahead, or dropped without data: go to the live edge.
      const latest = ch.nextWrite;
      if (latest > target.seq) {
        this.skipped += Math.max(0, latest - target.seq);
        this.seq = latest;
      } else {
        this.seq = latest;
        await delay(20);
      }
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<LocalSegment> {
    return untilNull(() => this.next(), () => {
      if (!this.endReason) this.close();
    });
  }
}

function makeLocalSegment(seq: number, segment: Segment): LocalSegment {
  const reader = segment.reader();
  const buffer = async () => {
    const parts: Buffer[] = [];
    for await (const c of reader) parts.push(c);
    return Buffer.concat(parts);
  };
  return {
    seq,
    reader,
    buffer,
    text: async () => (await buffer()).toString("utf8"),
    json: async <T>() => JSON.parse((await buffer()).toString("utf8")) as T,
  };
}
