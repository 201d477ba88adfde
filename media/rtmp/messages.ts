// RTMP message type ids, the server's outgoing protocol-control messages, and command replies.
import { encodeAmf0, type Amf0Value } from "./amf0.ts";
import type { RtmpMessage } from "./chunk-reader.ts";

export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;

export const UserControlEvent = {
  StreamBegin: 0,
  StreamEof: 1,
  PingRequest: 6,
  PingResponse: 7,
} as const;

/** Chunk stream ids the server sends on (protocol control must use 2). */
export const CSID_PROTOCOL = 2;
export const CSID_COMMAND = 3;

function u32Payload(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

function control(typeId: number, payload: Buffer): RtmpMessage {
  return { csid: CSID_PROTOCOL, typeId, streamId: 0, timestamp: 0, payload };
}

export const controlMessage = {
  setChunkSize: (size: number) => control(MessageType.SetChunkSize, u32Payload(size & 0x7fffffff)),
  acknowledgement: (sequence: number) => control(MessageType.Acknowledgement, u32Payload(sequence)),
  windowAckSize: (size: number) => control(MessageType.WindowAckSize, u32Payload(size)),
  /** limitType 2 = dynamic. */
  setPeerBandwidth: (size: number, limitType: number) => {
    const b = Buffer.alloc(5);
    b.writeUInt32BE(size >>> 0, 0);
    b[4] = limitType;
    return control(MessageType.SetPeerBandwidth, b);
  },
  userControl: (event: number, value: number) => {
    const b = Buffer.alloc(6);
    b.writeUInt16BE(event, 0);
    b.writeUInt32BE(value >>> 0, 2);
    return control(MessageType.UserControl, b);
  },
};

/** An AMF0 command message (`_result`, `_error`, `onStatus`) on the command chunk stream. */
export function commandMessage(streamId: number, ...values: Amf0Value[]): RtmpMessage {
  return { csid: CSID_COMMAND, typeId: MessageType.CommandAmf0, streamId, timestamp: 0, payload: encodeAmf0(...values) };
}

/** An `onStatus` for a NetStream (publish start, bad name, ...). */
export function onStatus(streamId: number, level: "status" | "error", code: string, description: string): RtmpMessage {
  return commandMessage(streamId, "onStatus", 0, null, { level, code, description });
}
