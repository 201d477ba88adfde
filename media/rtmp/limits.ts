// The RTMP server's limits: named defaults with their units, overridable per server (tests use short timeouts).

export interface RtmpLimits {
  /** From TCP accept until C0+C1+C2 have arrived. */
  handshakeTimeoutMs: number;
  /** From TCP accept until a `publish` has been accepted (connect, createStream, publish, admission). */
  publishTimeoutMs: number;
  /** A publishing connection that sends no audio/video/data for this long is closed (like an HTTP idle timeout). */
  idleTimeoutMs: number;
  /** Largest chunk size a peer may set with Set Chunk Size. */
  maxChunkSizeBytes: number;
  /** Smallest chunk size a peer may set (the protocol default; smaller only multiplies per-chunk work). */
  minChunkSizeBytes: number;
  /** Largest command/control message, and the largest message of any kind before `publish`. */
  maxCommandMessageBytes: number;
  /** Largest audio/video/data message after `publish`; a header declaring more closes the connection. */
  maxMediaMessageBytes: number;
  /** Distinct chunk stream ids a connection may use (ffmpeg and OBS use 3 to 5). */
  maxChunkStreams: number;
  /** Completed media held while admission of a `publish` is pending; beyond it the socket is paused. */
  maxHeldMediaBytes: number;
  /** Concurrent connections from one remote address. */
  maxConnectionsPerAddress: number;
  /** Concurrent connections in total. */
  maxConnections: number;
  /** After a graceful close (refusal, deleteStream) the socket is destroyed if the peer has not closed by then. */
  closeGraceMs: number;
}

export const DEFAULT_RTMP_LIMITS: Readonly<RtmpLimits> = Object.freeze({
  handshakeTimeoutMs: 5_000,
  publishTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  maxChunkSizeBytes: 64 * 1024,
  minChunkSizeBytes: 128,
  maxCommandMessageBytes: 64 * 1024,
  maxMediaMessageBytes: 8 * 1024 * 1024,
  maxChunkStreams: 8,
  maxHeldMediaBytes: 4 * 1024 * 1024,
  maxConnectionsPerAddress: 16,
  maxConnections: 256,
  closeGraceMs: 1_000,
});

/**
 * Partial (still arriving) messages across all chunk streams of one connection may together
 * hold at most this many times the current per-message limit.
 */
export const IN_FLIGHT_FACTOR = 2;

export function resolveLimits(overrides: Partial<RtmpLimits> = {}): RtmpLimits {
  const limits = { ...DEFAULT_RTMP_LIMITS, ...overrides };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value < 0) throw new Error(`RTMP limit ${key} must be a non-negative number, got ${value}`);
  }
  if (limits.minChunkSizeBytes < 1 || limits.minChunkSizeBytes > limits.maxChunkSizeBytes) {
    throw new Error("RTMP limits: minChunkSizeBytes must be between 1 and maxChunkSizeBytes");
  }
  return limits;
}
