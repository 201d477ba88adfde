// FLV tag body headers of RTMP audio/video messages: legacy AVC/AAC/MP3 and enhanced-RTMP (ExVideoTagHeader, FourCC) video.

export type VideoCodec = "h264" | "hevc";

export interface VideoTag {
  /** Undefined when the codec is not one we remux; `codecLabel` then names it for a warning. */
  codec: VideoCodec | undefined;
  codecLabel: string;
  /** 1 keyframe, 2 inter frame, 3 disposable inter frame, 4 generated keyframe, 5 command frame. */
  frameType: number;
  packet: "config" | "frame" | "end" | "other";
  /** Composition time offset (PTS - DTS) in milliseconds; may be negative. */
  compositionTimeMs: number;
  /** The decoder configuration record (config) or length-prefixed NAL units (frame). A view into the message. */
  body: Buffer;
}

export type AudioCodec = "aac" | "mp3";

export interface AudioTag {
  codec: AudioCodec | undefined;
  codecLabel: string;
  packet: "config" | "frame";
  /** AudioSpecificConfig (config), a raw AAC frame or MP3 frames (frame). A view into the message. */
  body: Buffer;
  /** SoundRate/SoundSize/SoundType bits of the first byte (only meaningful for non-AAC). */
  flags: number;
}

const EMPTY = Buffer.alloc(0);

function si24(b: Buffer, off: number): number {
  const v = (b[off]! << 16) | (b[off + 1]! << 8) | b[off + 2]!;
  return v & 0x800000 ? v - 0x1000000 : v;
}

function legacyPacketType(t: number): VideoTag["packet"] {
  return t === 0 ? "config" : t === 1 ? "frame" : t === 2 ? "end" : "other";
}

/** Reads the header of a video message body; undefined when it is too short to have one. */
export function parseVideoTag(data: Buffer): VideoTag | undefined {
  if (data.length < 1) return undefined;
  const b0 = data[0]!;
  if ((b0 & 0x80) === 0) {
    // Legacy header: FrameType(4) CodecID(4), then for AVC (and the common HEVC extension id 12)
    // AVCPacketType(8) and CompositionTime(SI24).
    const frameType = b0 >> 4;
    const codecId = b0 & 0x0f;
    const codec: VideoCodec | undefined = codecId === 7 ? "h264" : codecId === 12 ? "hevc" : undefined;
    if (!codec) return { codec, codecLabel: `FLV video codec id ${codecId}`, frameType, packet: "other", compositionTimeMs: 0, body: EMPTY };
    if (frameType === 5) return { codec, codecLabel: codec, frameType, packet: "other", compositionTimeMs: 0, body: EMPTY };
    if (data.length < 5) return undefined;
    return { codec, codecLabel: codec, frameType, packet: legacyPacketType(data[1]!), compositionTimeMs: si24(data, 2), body: data.subarray(5) };
  }
  // Enhanced RTMP: IsExHeader(1) FrameType(3) PacketType(4), then a FourCC.
  const frameType = (b0 >> 4) & 0x07;
  const packetType = b0 & 0x0f;
  if (packetType === 6 || packetType === 7) {
    // Multitrack and ModEx wrap further headers: not produced by the encoders we take.
    return { codec: undefined, codecLabel: packetType === 6 ? "enhanced RTMP multitrack video" : "enhanced RTMP ModEx video", frameType, packet: "other", compositionTimeMs: 0, body: EMPTY };
  }
  if (data.length < 5) return undefined;
  const fourcc = data.toString("latin1", 1, 5);
  const codec: VideoCodec | undefined = fourcc === "hvc1" ? "hevc" : fourcc === "avc1" ? "h264" : undefined;
  const codecLabel = codec ?? `video FourCC ${JSON.stringify(fourcc)}`;
  if (!codec || frameType === 5) return { codec, codecLabel, frameType, packet: "other", compositionTimeMs: 0, body: EMPTY };
  switch (packetType) {
    case 0: // SequenceStart
      return { codec, codecLabel, frameType, packet: "config", compositionTimeMs: 0, body: data.subarray(5) };
    case 1: // CodedFrames: SI24 composition time, then NAL units
      if (data.length < 8) return undefined;
      return { codec, codecLabel, frameType, packet: "frame", compositionTimeMs: si24(data, 5), body: data.subarray(8) };
    case 3: // CodedFramesX: composition time 0
      return { codec, codecLabel, frameType, packet: "frame", compositionTimeMs: 0, body: data.subarray(5) };
    case 2: // SequenceEnd
      return { codec, codecLabel, frameType, packet: "end", compositionTimeMs: 0, body: EMPTY };
    default: // Metadata (HDR info), MPEG2TSSequenceStart
      return { codec, codecLabel, frameType, packet: "other", compositionTimeMs: 0, body: EMPTY };
  }
}

/** Reads the header of an audio message body; undefined when it is too short to have one. */
export function parseAudioTag(data: Buffer): AudioTag | undefined {
  if (data.length < 1) return undefined;
  const b0 = data[0]!;
  const format = b0 >> 4;
  if (format === 10) {
    if (data.length < 2) return undefined;
    return { codec: "aac", codecLabel: "aac", packet: data[1] === 0 ? "config" : "frame", body: data.subarray(2), flags: b0 & 0x0f };
  }
  if (format === 2 || format === 14) {
    return { codec: "mp3", codecLabel: "mp3", packet: "frame", body: data.subarray(1), flags: b0 & 0x0f };
  }
  const label = format === 9 ? "enhanced RTMP audio" : `FLV audio format ${format}`;
  return { codec: undefined, codecLabel: label, packet: "frame", body: EMPTY, flags: b0 & 0x0f };
}

/**
 * Is this message a video or AAC sequence header (the only messages that change a stream's facts
 * once they are known)? Reads one or two bytes; no parsing.
 */
export function isSequenceHeader(kind: "audio" | "video" | "script", data: Buffer): boolean {
  if (data.length < 2) return false;
  const b0 = data[0]!;
  if (kind === "video") return (b0 & 0x80) === 0 ? data[1] === 0 : (b0 & 0x0f) === 0;
  return kind === "audio" && b0 >> 4 === 10 && data[1] === 0;
}
