// The rules an RTMP session applies to what a peer sends: which messages are allowed how long,
// aggregate messages taken apart, command arguments checked. Pure functions; the session
// (session.ts) holds the state.
import { Amf0Error, type Amf0Object, type Amf0Value } from "./amf0.ts";
import { ChunkProtocolError, type RtmpMessage } from "./chunk-reader.ts";
import type { RtmpMediaKind } from "./flv.ts";
import { HandshakeError } from "./handshake.ts";
import type { RtmpLimits } from "./limits.ts";
import { commandMessage, controlMessage, MessageType, UserControlEvent } from "./messages.ts";

/** Chunk size the server sends with (its messages are small; this is what ffmpeg and OBS use too). */
export const OUT_CHUNK_SIZE = 4096;
/** Window Acknowledgement Size and peer bandwidth announced to the client (bytes). */
export const SERVER_WINDOW_ACK_SIZE = 5_000_000;
/** Largest protocol-control or user-control message (they are 4-10 bytes). */
export const MAX_CONTROL_MESSAGE_BYTES = 64;
/** createStream calls per connection (a publisher needs one). */
export const MAX_STREAMS_PER_CONNECTION = 4;
/** Replies queued to a peer that does not read; beyond this the connection is closed. */
export const MAX_UNSENT_BYTES = 1024 * 1024;

/** The peer broke the command flow (wrong order, malformed command): the connection is closed. */
export class SessionProtocolError extends Error {
  override name = "SessionProtocolError";
}

export const MEDIA_KIND: Partial<Record<number, RtmpMediaKind>> = {
  [MessageType.Audio]: "audio",
  [MessageType.Video]: "video",
  [MessageType.DataAmf0]: "script",
};

export function isObject(v: Amf0Value): v is Amf0Object {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

export function withoutQuery(s: string): string {
  const q = s.indexOf("?");
  return q === -1 ? s : s.slice(0, q);
}

/**
 * Longest message of this type accepted now (bytes), or -1 when the type is not allowed now.
 * Media only while a publish is pending or accepted (`mediaAllowed`).
 */
export function maxMessageLength(typeId: number, limits: RtmpLimits, mediaAllowed: boolean): number {
  switch (typeId) {
    case MessageType.SetChunkSize:
    case MessageType.Abort:
    case MessageType.Acknowledgement:
    case MessageType.UserControl:
    case MessageType.WindowAckSize:
    case MessageType.SetPeerBandwidth:
      return MAX_CONTROL_MESSAGE_BYTES;
    case MessageType.CommandAmf0:
    case MessageType.CommandAmf3:
      return limits.maxCommandMessageBytes;
    case MessageType.Audio:
    case MessageType.Video:
    case MessageType.DataAmf0:
    case MessageType.DataAmf3:
    case MessageType.Aggregate:
      return mediaAllowed ? limits.maxMediaMessageBytes : -1;
    default:
      return -1;
  }
}

/**
 * An Aggregate message: FLV-style tags whose timestamps are relative to the first one's, each
 * handed to `onTag` with its absolute timestamp. Throws SessionProtocolError on a malformed one.
 */
export function forEachAggregateTag(timestamp: number, p: Buffer, onTag: (kind: RtmpMediaKind, timestampMs: number, body: Buffer) => void): void {
  let pos = 0;
  let first: number | undefined;
  while (pos < p.length) {
    if (p.length - pos < 11) throw new SessionProtocolError("truncated aggregate message");
    const typeId = p[pos]!;
    const size = p.readUIntBE(pos + 1, 3);
    const ts = (p.readUIntBE(pos + 4, 3) | (p[pos + 7]! << 24)) >>> 0;
    if (pos + 11 + size > p.length) throw new SessionProtocolError("truncated aggregate sub-message");
    const kind = MEDIA_KIND[typeId];
    if (!kind) throw new SessionProtocolError(`aggregate sub-message of type ${typeId}`);
    first ??= ts;
    onTag(kind, (timestamp + ts - first) >>> 0, p.subarray(pos + 11, pos + 11 + size));
    pos += 11 + size + 4; // + back-pointer (tolerated missing at the very end)
  }
}

/** Why a handler's exception closes the connection: the peer's fault (a protocol error) or ours. */
export function closeReason(err: unknown): string {
  const peer = err instanceof ChunkProtocolError || err instanceof HandshakeError || err instanceof Amf0Error || err instanceof SessionProtocolError;
  return peer ? `protocol error: ${(err as Error).message}` : `internal error: ${(err as Error)?.message ?? String(err)}`;
}

/** The replies to `connect`: window and bandwidth, the server's chunk size (OUT_CHUNK_SIZE from the next message on), then _result. */
export function connectReplies(transId: number): RtmpMessage[] {
  return [
    controlMessage.windowAckSize(SERVER_WINDOW_ACK_SIZE),
    controlMessage.setPeerBandwidth(SERVER_WINDOW_ACK_SIZE, 2),
    controlMessage.setChunkSize(OUT_CHUNK_SIZE),
    commandMessage(
      0,
      "_result",
      transId,
      { fmsVer: "FMS/3,0,1,123", capabilities: 31 },
      { level: "status", code: "NetConnection.Connect.Success", description: "Connection succeeded.", objectEncoding: 0 },
    ),
  ];
}

export function methodNotFound(transId: number): RtmpMessage {
  return commandMessage(0, "_error", transId, null, { level: "error", code: "NetConnection.Call.Failed", description: "Method not found." });
}

/** What a protocol-control or user-control message asks of the session. */
export type ControlAction =
  | { kind: "chunk-size"; size: number }
  | { kind: "abort"; csid: number }
  | { kind: "ack-window"; size: number }
  | { kind: "ping"; value: number }
  | { kind: "none" };

/** Reads a control message (types 1-6); undefined for any other type. Throws SessionProtocolError on a malformed one. */
export function controlAction(typeId: number, p: Buffer, limits: RtmpLimits): ControlAction | undefined {
  switch (typeId) {
    case MessageType.SetChunkSize: {
      if (p.length < 4) throw new SessionProtocolError("short Set Chunk Size");
      const size = p.readUInt32BE(0);
      const { minChunkSizeBytes: min, maxChunkSizeBytes: max } = limits;
      if (size < min || size > max) throw new SessionProtocolError(`chunk size ${size} outside ${min}..${max}`);
      return { kind: "chunk-size", size };
    }
    case MessageType.Abort:
      if (p.length < 4) throw new SessionProtocolError("short Abort");
      return { kind: "abort", csid: p.readUInt32BE(0) };
    case MessageType.Acknowledgement:
    case MessageType.SetPeerBandwidth:
      return { kind: "none" };
    case MessageType.WindowAckSize:
      if (p.length < 4) throw new SessionProtocolError("short Window Acknowledgement Size");
      return { kind: "ack-window", size: p.readUInt32BE(0) };
    case MessageType.UserControl:
      if (p.length < 2) throw new SessionProtocolError("short User Control message");
      return p.readUInt16BE(0) === UserControlEvent.PingRequest && p.length >= 6 ? { kind: "ping", value: p.readUInt32BE(2) } : { kind: "none" };
    default:
      return undefined;
  }
}
