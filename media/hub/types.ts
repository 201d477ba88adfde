// The narrow types shared by ingest adapters, processors and output adapters.

export type Pipeline = "passthrough" | "transcode" | "live-video-to-video";
export const PIPELINES: Pipeline[] = ["passthrough", "transcode", "live-video-to-video"];

export type IngestProtocol = "rtmp" | "whip";

/** The durable description of a stream (owned by the control plane's store). */
export interface StreamRecord {
  id: string;
  name: string;
  pipeline: Pipeline;
  streamKey: string;
  /** API key that owns the stream (undefined for streams made with the bootstrap admin key). */
  ownerKeyId?: string;
  createdAt: number;
  /** Pipeline options: transcodingOptions, modelId, params, ... */
  options: StreamOptions;
}

export interface StreamOptions {
  transcodingOptions?: string;
  modelId?: string;
  params?: Record<string, unknown>;
  [k: string]: unknown;
}

/** What the hub needs from the stream store (SQLite in production, memory in unit tests). */
export interface StreamDirectory {
  get(id: string): StreamRecord | undefined;
  /** Async: a key the cache does not know may have been rotated or created elsewhere (CLI, another node). */
  findByStreamKey(streamKey: string): Promise<StreamRecord | undefined>;
}

/** Properties of the source, filled from the first segments. */
export interface SourceInfo {
  videoCodec?: string;
  videoProfile?: string;
  width?: number;
  height?: number;
  fps?: number;
  audioCodec?: string;
  audioSampleRate?: number;
  audioChannels?: number;
  /** Codec string for HLS CODECS, e.g. avc1.64001f,mp4a.40.2 */
  hlsCodecs?: string;
}

/** One output rendition that output adapters (HLS, WHEP) can serve. */
export interface Rendition {
  name: string;
  width: number;
  height: number;
  /** Peak bits per second for HLS BANDWIDTH. */
  bandwidth: number;
  codecs: string;
  fps?: number;
  /** The source passed through untouched. */
  source?: boolean;
}

/** Why an ingest session ended. */
export type EndReason =
  | "publisher-left"
  | "publisher-timeout"
  | "deleted"
  | "key-revoked"
  | "spend-cap"
  | "failed"
  | "shutdown"
  | "kicked"
  /** go-livepeer's heartbeat service ended it (liveAIHeartbeatURL's terminatedStreamIds). */
  | "credit_exhaustion";
