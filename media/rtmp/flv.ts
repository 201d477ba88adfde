// FLV byte stream from RTMP media messages: file header, tags and back-pointers (for ffmpeg's `-f flv`).

export type RtmpMediaKind = "audio" | "video" | "script";

/** One complete audio, video or data (script) message of a publisher, with its absolute timestamp. */
export interface RtmpMedia {
  kind: RtmpMediaKind;
  /** Milliseconds on the publisher's clock, modulo 2^32 (RTMP timestamps are 32-bit). */
  timestampMs: number;
  /**
   * The message body, which is also an FLV tag body: audio and video start with the FLV
   * audio/video tag header; script data is AMF0 (`onMetaData`, ...) with RTMP's
   * `@setDataFrame` wrapper already removed.
   */
  data: Buffer;
}

const TAG_TYPE: Record<RtmpMediaKind, number> = { audio: 8, video: 9, script: 18 };

/** "FLV", version 1, audio+video flags, header size 9, then PreviousTagSize0 = 0. */
export function flvHeader(): Buffer {
  return Buffer.from([0x46, 0x4c, 0x56, 0x01, 0x05, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00]);
}

/** One FLV tag (11-byte header, body, 4-byte PreviousTagSize). */
export function flvTag(m: RtmpMedia): Buffer {
  const size = m.data.length;
  const out = Buffer.allocUnsafe(11 + size + 4);
  const ts = m.timestampMs >>> 0;
  out[0] = TAG_TYPE[m.kind];
  out.writeUIntBE(size, 1, 3);
  out.writeUIntBE(ts & 0xffffff, 4, 3);
  out[7] = ts >>> 24;
  out.writeUIntBE(0, 8, 3);
  m.data.copy(out, 11);
  out.writeUInt32BE(11 + size, 11 + size);
  return out;
}

// AMF0 string "@setDataFrame": marker 0x02, length 13, the bytes.
const SET_DATA_FRAME = Buffer.from([0x02, 0x00, 0x0d, ...Buffer.from("@setDataFrame", "ascii")]);

/** OBS and ffmpeg send metadata as `@setDataFrame onMetaData {...}`; in FLV it is `onMetaData {...}`. */
export function stripSetDataFrame(payload: Buffer): Buffer {
  if (payload.length >= SET_DATA_FRAME.length && payload.subarray(0, SET_DATA_FRAME.length).equals(SET_DATA_FRAME)) {
    return payload.subarray(SET_DATA_FRAME.length);
  }
  return payload;
}
