// RTMP chunk stream muxer: one message -> a type-0 chunk plus type-3 continuation chunks.
import type { RtmpMessage } from "./chunk-reader.ts";

const EXTENDED = 0xffffff;

function basicHeader(fmt: number, csid: number): Buffer {
  if (csid < 2 || csid > 65599) throw new RangeError(`chunk stream id ${csid} out of range`);
  if (csid < 64) return Buffer.of((fmt << 6) | csid);
  if (csid < 320) return Buffer.of(fmt << 6, csid - 64);
  return Buffer.of((fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8);
}

/** Encodes a message with an absolute (type-0) header, split at chunkSize. */
export function encodeChunks(message: RtmpMessage, chunkSize: number): Buffer {
  const { payload } = message;
  const timestamp = message.timestamp >>> 0;
  const extended = timestamp >= EXTENDED;
  const header = Buffer.alloc(11 + (extended ? 4 : 0));
  header.writeUIntBE(extended ? EXTENDED : timestamp, 0, 3);
  header.writeUIntBE(payload.length, 3, 3);
  header[6] = message.typeId;
  header.writeUInt32LE(message.streamId >>> 0, 7);
  if (extended) header.writeUInt32BE(timestamp, 11);
  const parts: Buffer[] = [basicHeader(0, message.csid), header];
  const continuation = extended
    ? Buffer.concat([basicHeader(3, message.csid), header.subarray(11)])
    : basicHeader(3, message.csid);
  for (let off = 0; off < payload.length; off += chunkSize) {
    if (off > 0) parts.push(continuation);
    parts.push(payload.subarray(off, Math.min(off + chunkSize, payload.length)));
  }
  return Buffer.concat(parts);
}
