// Test helper: reads an FLV file into the RTMP media messages the remuxer takes (tag type, timestamp, tag body).
import type { MediaMessage } from "../media-message.ts";

const KINDS: Record<number, MediaMessage["kind"]> = { 8: "audio", 9: "video", 18: "script" };

export function readFlvMessages(file: Buffer): MediaMessage[] {
  if (file.toString("latin1", 0, 3) !== "FLV") throw new Error("not an FLV file");
  let off = file.readUInt32BE(5) + 4; // header, then PreviousTagSize0
  const out: MediaMessage[] = [];
  while (off + 11 <= file.length) {
    const type = file[off]! & 0x1f;
    const size = file.readUIntBE(off + 1, 3);
    const timestampMs = (file.readUIntBE(off + 4, 3) | (file[off + 7]! << 24)) >>> 0;
    const body = file.subarray(off + 11, off + 11 + size);
    if (body.length < size) break;
    const kind = KINDS[type];
    if (kind) out.push({ kind, timestampMs, data: Buffer.from(body) });
    off += 11 + size + 4;
  }
  return out;
}
