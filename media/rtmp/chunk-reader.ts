// RTMP chunk stream demuxer: TCP bytes after the handshake -> complete messages with absolute timestamps.
//
// Follows the RTMP 1.0 spec (section 5.3): basic headers of 1-3 bytes, message headers of type
// 0 (absolute timestamp), 1 and 2 (timestamp delta) and 3 (nothing: a continuation chunk, or a
// new message reusing the previous delta), 32-bit extended timestamps. Memory grows with bytes
// that actually arrived: a message buffer starts at the size of its first chunk and doubles up to
// the declared length, never allocated from the declared length up front, except for audio/video
// messages of at most 64 KiB (allowed only while publishing), allocated whole at their first chunk.

import { ByteArena } from "../remux/byte-arena.ts";

export interface RtmpMessage {
  /** Chunk stream id it arrived on. */
  csid: number;
  typeId: number;
  /** Message stream id (0 = the NetConnection, >0 = a NetStream from createStream). */
  streamId: number;
  /** Absolute timestamp in milliseconds, modulo 2^32. */
  timestamp: number;
  payload: Buffer;
}

/** The peer broke the chunk protocol or a limit: the connection is closed. */
export class ChunkProtocolError extends Error {
  override name = "ChunkProtocolError";
}

export interface ChunkReaderOptions {
  /** Distinct chunk stream ids accepted on this connection. */
  maxChunkStreams: number;
  /**
   * Longest message of this type accepted right now (bytes), or -1 when the type is not
   * allowed now. Asked when each message starts, before any of its payload is buffered.
   */
  maxMessageLength(typeId: number): number;
  /** Bytes that partial messages across all chunk streams may hold together right now. */
  maxInFlightBytes(): number;
  /** A complete message. May call setChunkSize, abort or stop; they apply to the next chunk. */
  onMessage(message: RtmpMessage): void;
  /**
   * Asked when an audio/video message starts: true when onMessage keeps nothing of this message's
   * payload after it returns (it copies what it needs). The payload may then be a buffer the reader
   * reuses for its chunk stream's next message: no allocation per frame.
   */
  reusePayloads?(): boolean;
}

export const DEFAULT_CHUNK_SIZE = 128;
const MESSAGE_HEADER_SIZE = [11, 7, 3, 0] as const;
const EXTENDED = 0xffffff;
const EMPTY = Buffer.alloc(0);
/**
 * Audio/video messages declared at most this long are allocated whole when their first chunk
 * arrives: at most this much ahead of the bytes received per chunk stream (8 streams: 512 KiB a
 * publishing connection), instead of several allocations and copies per video frame.
 */
export const UPFRONT_MESSAGE_BYTES = 64 * 1024;

interface ChunkStreamState {
  csid: number;
  timestamp: number;
  /** Delta a type-3 header that starts a message adds (for a type-0 predecessor: its timestamp). */
  delta: number;
  length: number;
  typeId: number;
  streamId: number;
  /** The last type 0/1/2 header used an extended timestamp: type-3 chunks carry one too. */
  extended: boolean;
  extendedValue: number;
  inProgress: boolean;
  payload: Buffer | null;
  received: number;
  /** The buffer reused for this chunk stream's media messages (see reusePayloads). */
  spare: Buffer | null;
}

/** A reused payload buffer grows in steps of this many bytes (a keyframe or two sets its size). */
const SPARE_STEP_BYTES = 16 * 1024;

export class ChunkReader {
  private chunkSize = DEFAULT_CHUNK_SIZE;
  private readonly streams = new Map<number, ChunkStreamState>();
  /** Unparsed bytes of an incomplete chunk header (at most 22). */
  private pending: Buffer = EMPTY;
  /** The chunk whose payload is being read, and how much of it is left. */
  private current: ChunkStreamState | null = null;
  private chunkRemaining = 0;
  private inFlight = 0;
  private stopped = false;
  /** Payloads of audio/video messages allocated whole: consecutive slices of shared slabs. */
  private readonly mediaArena = new ByteArena();

  constructor(private readonly opts: ChunkReaderOptions) {}

  get incomingChunkSize(): number {
    return this.chunkSize;
  }

  /** Bytes held by partial messages. */
  get bufferedBytes(): number {
    return this.inFlight;
  }

  setChunkSize(size: number): void {
    this.chunkSize = size;
  }

  /** Abort Message: drop the partial message on this chunk stream. */
  abort(csid: number): void {
    const s = this.streams.get(csid);
    if (!s || !s.inProgress) return;
    this.inFlight -= s.received;
    s.inProgress = false;
    s.payload = null;
    s.received = 0;
  }

  /** No more messages: the rest of the current and any later input is ignored. */
  stop(): void {
    this.stopped = true;
    this.pending = EMPTY;
    for (const s of this.streams.values()) {
      s.payload = null;
      s.spare = null;
    }
  }

  /** Feeds bytes as they arrived from TCP (any split). Throws ChunkProtocolError. */
  push(data: Buffer): void {
    if (this.stopped) return;
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, data]) : data;
    this.pending = EMPTY;
    let pos = 0;
    while (pos < buf.length && !this.stopped) {
      const s = this.current;
      if (s) {
        const n = Math.min(this.chunkRemaining, buf.length - pos);
        this.append(s, buf, pos, n);
        pos += n;
        this.chunkRemaining -= n;
        if (this.chunkRemaining === 0) {
          this.current = null;
          if (s.received === s.length) this.complete(s);
        }
        continue;
      }
      const consumed = this.header(buf, pos);
      if (consumed === 0) {
        // Incomplete header: keep a copy (not a view that would pin the whole socket read).
        this.pending = Buffer.from(buf.subarray(pos));
        break;
      }
      pos += consumed;
    }
  }

  /** Parses one chunk header at pos; returns the bytes it took, or 0 when more bytes are needed. */
  private header(buf: Buffer, pos: number): number {
    const avail = buf.length - pos;
    const b0 = buf[pos]!;
    const fmt = b0 >> 6;
    let csid = b0 & 0x3f;
    let basic = 1;
    if (csid === 0) {
      basic = 2;
      if (avail < basic) return 0;
      csid = 64 + buf[pos + 1]!;
    } else if (csid === 1) {
      basic = 3;
      if (avail < basic) return 0;
      csid = 64 + buf[pos + 1]! + buf[pos + 2]! * 256;
    }
    const headerSize = MESSAGE_HEADER_SIZE[fmt as 0 | 1 | 2 | 3];
    if (avail < basic + headerSize) return 0;
    const p = pos + basic;
    let s = this.streams.get(csid);
    if (!s && fmt >= 2) throw new ChunkProtocolError(`chunk stream ${csid} starts with a type-${fmt} header`);
    const tsField = fmt <= 2 ? buf.readUIntBE(p, 3) : 0;
    const hasExtended = fmt <= 2 ? tsField === EXTENDED : s!.extended;

    if (s?.inProgress) {
      if (fmt !== 3) throw new ChunkProtocolError(`type-${fmt} header on chunk stream ${csid} in the middle of a message`);
      // Continuation chunk. Encoders disagree on whether it repeats the extended timestamp:
      // take 4 bytes as one only when they equal the message's.
      let skip = 0;
      if (hasExtended) {
        if (avail < basic + 4) return 0;
        if (buf.readUInt32BE(p) === s.extendedValue) skip = 4;
      }
      this.current = s;
      this.chunkRemaining = Math.min(this.chunkSize, s.length - s.received);
      return basic + skip;
    }

    const total = basic + headerSize + (hasExtended ? 4 : 0);
    if (avail < total) return 0;
    if (!s) {
      if (this.streams.size >= this.opts.maxChunkStreams) {
        throw new ChunkProtocolError(`more than ${this.opts.maxChunkStreams} chunk streams`);
      }
      s = {
        csid, timestamp: 0, delta: 0, length: 0, typeId: 0, streamId: 0,
        extended: false, extendedValue: 0, inProgress: false, payload: null, received: 0, spare: null,
      };
      this.streams.set(csid, s);
    }
    const value = hasExtended ? buf.readUInt32BE(p + headerSize) : tsField;
    switch (fmt) {
      case 0:
        s.timestamp = value;
        s.delta = value;
        s.length = buf.readUIntBE(p + 3, 3);
        s.typeId = buf[p + 6]!;
        s.streamId = buf.readUInt32LE(p + 7);
        break;
      case 1:
        s.delta = value;
        s.timestamp = (s.timestamp + value) >>> 0;
        s.length = buf.readUIntBE(p + 3, 3);
        s.typeId = buf[p + 6]!;
        break;
      case 2:
        s.delta = value;
        s.timestamp = (s.timestamp + value) >>> 0;
        break;
      default:
        if (hasExtended) s.delta = value;
        s.timestamp = (s.timestamp + s.delta) >>> 0;
    }
    if (fmt <= 2) s.extended = hasExtended;
    if (hasExtended) s.extendedValue = value;

    const max = this.opts.maxMessageLength(s.typeId);
    if (max < 0) throw new ChunkProtocolError(`message type ${s.typeId} not allowed here`);
    if (s.length > max) throw new ChunkProtocolError(`message of ${s.length} bytes (type ${s.typeId}) exceeds the limit of ${max}`);
    s.inProgress = true;
    s.received = 0;
    s.payload = null;
    if (s.length === 0) {
      this.complete(s);
    } else {
      this.current = s;
      this.chunkRemaining = Math.min(this.chunkSize, s.length);
    }
    return total;
  }

  private append(s: ChunkStreamState, buf: Buffer, pos: number, n: number): void {
    const limit = this.opts.maxInFlightBytes();
    if (this.inFlight + n > limit) throw new ChunkProtocolError(`more than ${limit} bytes of partial messages`);
    const need = s.received + n;
    if (!s.payload || s.payload.length < need) {
      // An audio or video message (allowed only once publishing) up to UPFRONT_MESSAGE_BYTES gets
      // its whole buffer at its first chunk (one allocation and no re-copy for an ordinary video
      // frame); anything else, or longer, doubles from the first chunk's size.
      const media = s.typeId === 8 || s.typeId === 9;
      if (media && !s.payload && this.opts.reusePayloads?.()) {
        if (!s.spare || s.spare.length < s.length) s.spare = Buffer.allocUnsafeSlow(Math.ceil(s.length / SPARE_STEP_BYTES) * SPARE_STEP_BYTES);
        s.payload = s.spare;
        this.copyIn(s, buf, pos, n);
        return;
      }
      const upfront = media && s.length <= UPFRONT_MESSAGE_BYTES ? s.length : 0;
      const capacity = Math.min(s.length, Math.max(need, upfront, s.payload ? s.payload.length * 2 : 0));
      // Whole media payloads come from slabs: one allocation for several frames instead of one
      // each (the remuxer copies them out at once; a slab is freed with its last message).
      const next = upfront === capacity && !s.payload ? this.mediaArena.take(capacity) : Buffer.allocUnsafe(capacity);
      if (s.payload) s.payload.copy(next, 0, 0, s.received);
      s.payload = next;
    }
    this.copyIn(s, buf, pos, n);
  }

  private copyIn(s: ChunkStreamState, buf: Buffer, pos: number, n: number): void {
    s.payload!.set(buf.subarray(pos, pos + n), s.received);
    s.received += n;
    this.inFlight += n;
  }

  private complete(s: ChunkStreamState): void {
    // Capacity never exceeds the declared length, so a complete payload is exactly the message
    // (but for a reused buffer, which may be longer).
    const whole = s.payload ?? EMPTY;
    const payload = whole.length === s.length ? whole : whole.subarray(0, s.length);
    this.inFlight -= s.received;
    s.inProgress = false;
    s.payload = null;
    s.received = 0;
    this.opts.onMessage({ csid: s.csid, typeId: s.typeId, streamId: s.streamId, timestamp: s.timestamp, payload });
  }
}
