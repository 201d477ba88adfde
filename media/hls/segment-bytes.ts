// A segment's bytes held by the HLS window: the producer's chunks, joined only when a player asks.
import type { SegmentPart } from "../../core/live-segment.ts";

/**
 * A segment's bytes as the producer pushed them (for RTMP, views of a few slabs), joined into one
 * buffer only when a player asks: a stream nobody watches costs no copy (and no page faults for a
 * fresh 700 KB buffer every 2 s, which on this VM cost about 1 ms each).
 */
export class SegmentBytes {
  private chunks?: Buffer[];
  private whole?: Buffer;
  private readonly parts = new Map<number, Buffer>();

  constructor(
    chunks: readonly Buffer[],
    readonly size: number,
  ) {
    this.chunks = coalesce(chunks);
  }

  bytes(): Buffer {
    if (!this.whole) {
      const chunks = this.chunks ?? [];
      this.whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.size);
      this.chunks = undefined;
      this.parts.clear();
    }
    return this.whole;
  }

  range(part: SegmentPart): Buffer {
    if (this.whole) return this.whole.subarray(part.offset, part.offset + part.size);
    let bytes = this.parts.get(part.index);
    if (!bytes) this.parts.set(part.index, (bytes = sliceChunks(this.chunks ?? [], part.offset, part.size)));
    return bytes;
  }

  /** Part bytes already joined while the segment was written. */
  adopt(parts: Map<number, Buffer>): void {
    for (const [i, b] of parts) this.parts.set(i, b);
  }
}

/**
 * Adjacent views of one slab (RTMP: consecutive FlvToTs outputs) joined into one view, without
 * copying: a segment held for the window is a dozen objects instead of one per RTMP message,
 * which is what the garbage collector has to walk (bench/ingest.ts: GC was half of the CPU).
 */
function coalesce(chunks: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < chunks.length) {
    const first = chunks[i]!;
    let length = first.length;
    let j = i + 1;
    while (j < chunks.length && chunks[j]!.buffer === first.buffer && chunks[j]!.byteOffset === first.byteOffset + length) length += chunks[j++]!.length;
    out.push(j === i + 1 ? first : Buffer.from(first.buffer, first.byteOffset, length));
    i = j;
  }
  return out;
}

/** Bytes [offset, offset + size) of a list of chunks, as one buffer (a view when one chunk holds them). */
export function sliceChunks(chunks: readonly Buffer[], offset: number, size: number): Buffer {
  const end = offset + size;
  const pieces: Buffer[] = [];
  let at = 0;
  for (const chunk of chunks) {
    const next = at + chunk.length;
    if (next > offset && at < end) pieces.push(chunk.subarray(Math.max(0, offset - at), Math.min(chunk.length, end - at)));
    if (next >= end) break;
    at = next;
  }
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size);
}
