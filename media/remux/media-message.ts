// One RTMP media message as the RTMP server hands it over: the FLV tag body of an audio, video or script message.

export interface MediaMessage {
  kind: "audio" | "video" | "script";
  /** RTMP/FLV timestamp in milliseconds (32-bit, may wrap; for video it is the DTS). */
  timestampMs: number;
  /** The FLV tag body: for video the FrameType/CodecID byte (or ExVideoTagHeader) onwards, for audio the SoundFormat byte onwards. */
  data: Buffer;
}
