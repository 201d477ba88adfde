// A segment's bytes held by the HLS window: the producer's chunks, served as they are.
import type { LiveSegment, Release, SegmentPart } from "../../core/live-segment.ts";

/** Bytes for one response, valid until `release` is called (when the response is done with them). */
export interface HeldBytes {
  chunks: readonly Buffer[];
  size: number;
  release: Release;
}

/**
 * A complete segment's bytes as the producer pushed them (for RTMP, views of a few pooled slabs),
 * held for the window until `dispose`. Each response holds the segment again while it writes, so a
 * segment leaving the window mid-response keeps its bytes until the response is done. Never joined
 * into one buffer: a segment asked for is written as its views (no 700 KB copy per segment and
 * player, and no new memory that would count towards the next garbage collection).
 */
export class SegmentBytes {
  private chunks: Buffer[];
  private readonly parts = new Map<number, Buffer>();

  constructor(
    private readonly segment: LiveSegment,
    /** The window's hold on the segment. */
    private readonly hold: Release | undefined,
  ) {
    this.chunks = coalesce(segment.views());
  }

  get size(): number {
    return this.segment.size;
  }

  /** The whole segment for one response; undefined once disposed. */
  bytes(): HeldBytes | undefined {
    const release = this.segment.retain();
    return release ? { chunks: this.chunks, size: this.segment.size, release } : undefined;
  }

  /** A part for one response; undefined once disposed. */
  range(part: SegmentPart): HeldBytes | undefined {
    return heldPart(this.segment, () => this.chunks, this.parts, part);
  }

  /** Part bytes already joined while the segment was written. */
  adopt(parts: Map<number, Buffer>): void {
    for (const [i, b] of parts) this.parts.set(i, b);
  }

  /** The window lets go (responses still writing keep their own holds). */
  dispose(): void {
    this.chunks = [];
    this.parts.clear();
    this.hold?.();
  }
}

/**
 * A part of `segment` for one response, held until released: its bytes joined from `chunks` once
 * and kept in `cache` (the segment being written and a stored one share this).
 */
export function heldPart(segment: LiveSegment, chunks: () => readonly Buffer[], cache: Map<number, Buffer>, part: SegmentPart): HeldBytes | undefined {
  const release = segment.retain();
  if (!release) return undefined;
  let bytes = cache.get(part.index);
  if (!bytes) cache.set(part.index, (bytes = sliceChunks(chunks(), part.offset, part.size)));
  return { chunks: [bytes], size: bytes.length, release };
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
