// One RTMP connection's command flow: handshake, connect, createStream, publish, media, timeouts, close.
//
// Every socket event and timer runs through guard(): whatever a peer sends, the worst outcome
// is that this connection is closed. Stream keys are never logged (keyRef() instead).
import { randomUUID } from "node:crypto";
import type net from "node:net";
import { decodeAmf0, type Amf0Value } from "./amf0.ts";
import { ChunkReader, type RtmpMessage } from "./chunk-reader.ts";
import { encodeChunks } from "./chunk-writer.ts";
import { stripSetDataFrame, type RtmpMediaKind } from "./flv.ts";
import { ServerHandshake } from "./handshake.ts";
import { IN_FLIGHT_FACTOR, type RtmpLimits } from "./limits.ts";
import { commandMessage, controlMessage, MessageType, onStatus, UserControlEvent } from "./messages.ts";
import { PublisherHandle, type RtmpPublisher, type RtmpPublishRequest } from "./publisher.ts";
import { keyRef } from "./redact.ts";
import { closeReason, connectReplies, controlAction, forEachAggregateTag, isObject, maxMessageLength, MEDIA_KIND, methodNotFound, withoutQuery } from "./session-rules.ts";
import { MAX_STREAMS_PER_CONNECTION, MAX_UNSENT_BYTES, OUT_CHUNK_SIZE, SessionProtocolError, type ControlAction } from "./session-rules.ts";
import { openSocket, ReadBatcher } from "./socket-input.ts";

export type LogLevel = "info" | "warn";

export interface SessionHooks {
  limits: RtmpLimits;
  onPublish(req: RtmpPublishRequest, publisher: RtmpPublisher): Promise<true | string>;
  log(level: LogLevel, msg: string, fields: Record<string, unknown>): void;
  /** The socket is gone (exactly once). */
  onClosed(): void;
  /** The owner's media listeners copy what they keep: a message's buffer may be reused once they return. */
  mediaListenersCopy?: boolean;
  /** Read the socket into this buffer (shared: each read is consumed before the next); absent: Node's own buffers. */
  readBuffer?: Buffer;
}

type State = "handshake" | "connect" | "connected" | "publish-pending" | "publishing" | "closed";

export class RtmpSession {
  readonly id = randomUUID();
  private state: State = "handshake";
  private closing = false;
  private readonly handshake = new ServerHandshake();
  private readonly reader: ChunkReader;
  private outChunkSize = 128;
  private bytesIn = 0;
  private ackedAt = 0;
  private ackWindow = 0;
  private app = "";
  private streamName = "";
  private readonly streamIds = new Set<number>();
  private nextStreamId = 1;
  private publishStreamId = 0;
  private publisher?: PublisherHandle;
  private lastMediaAt = 0;
  /** Media arrived since lastMediaAt was set (it is set once per read, not per message: the clock costs). */
  private mediaSinceClock = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private idleTimer?: NodeJS.Timeout;
  private closedNotified = false;
  private readonly socket: net.Socket;
  private readonly batcher: ReadBatcher;

  /** `raw`: the accepted connection, paused (the session reads it from here on). */
  constructor(
    raw: net.Socket,
    readonly remoteAddress: string,
    private readonly hooks: SessionHooks,
  ) {
    const { limits } = hooks;
    const socket = openSocket(raw, hooks.readBuffer, (data) => this.guard(() => this.onData(data)));
    this.socket = socket;
    this.batcher = new ReadBatcher(socket);
    this.reader = new ChunkReader({
      maxChunkStreams: limits.maxChunkStreams,
      maxMessageLength: (typeId) => maxMessageLength(typeId, limits, this.mediaAllowed),
      maxInFlightBytes: () =>
        IN_FLIGHT_FACTOR * (this.mediaAllowed ? limits.maxMediaMessageBytes : limits.maxCommandMessageBytes),
      onMessage: (m) => this.onMessage(m),
      // Once publishing, media goes straight to the owner's listeners (nothing is held).
      reusePayloads: () => hooks.mediaListenersCopy === true && this.state === "publishing",
    });
    socket.setNoDelay(true);
    socket.on("error", () => {
      // A reset or broken pipe: "close" follows and does the cleanup.
    });
    socket.on("close", () => this.onSocketClose());
    this.timer(limits.handshakeTimeoutMs, () => {
      if (this.state === "handshake") this.fail(`handshake not completed within ${limits.handshakeTimeoutMs} ms`);
    });
    this.timer(limits.publishTimeoutMs, () => {
      if (this.state !== "publishing") this.fail(`no accepted publish within ${limits.publishTimeoutMs} ms`);
    });
  }

  /** Close now (server stop, owner's publisher.close()). */
  closeNow(reason: string): void {
    this.close(reason, "info", false);
  }

  private get mediaAllowed(): boolean {
    return this.state === "publish-pending" || this.state === "publishing";
  }

  private get logFields(): Record<string, unknown> {
    const fields: Record<string, unknown> = { session: this.id, remoteAddress: this.remoteAddress };
    if (this.state === "publish-pending" || this.state === "publishing" || this.streamName) {
      fields.app = this.app;
      fields.key = keyRef(this.streamName);
    }
    return fields;
  }

  // ---- plumbing -------------------------------------------------------------

  /** Runs a handler; anything it throws closes this connection and nothing else. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      try {
        this.fail(closeReason(err));
      } catch {
        this.socket.destroy();
      }
    }
  }

  private timer(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.guard(fn);
    }, ms);
    t.unref();
    this.timers.add(t);
    return t;
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private send(message: RtmpMessage): void {
    if (this.closing || this.socket.destroyed || !this.socket.writable) return;
    if (this.socket.writableLength > MAX_UNSENT_BYTES) {
      this.fail(`peer is not reading (${this.socket.writableLength} bytes unsent)`);
      return;
    }
    this.socket.write(encodeChunks(message, this.outChunkSize));
  }

  /** Closes after a limit or protocol violation. */
  private fail(reason: string): void {
    this.close(reason, "warn", false);
  }

  /** Logging must not be able to stop a close or a publish. */
  private log(level: LogLevel, msg: string, fields: Record<string, unknown>): void {
    try {
      this.hooks.log(level, msg, fields);
    } catch {
      // nothing sensible to do
    }
  }

  /**
   * Ends the session once: stops parsing, ends the publish (owner's onClose), then either
   * destroys the socket or (graceful) ends it so queued replies are delivered, destroying it
   * after closeGraceMs if the peer lingers.
   */
  private close(reason: string, level: LogLevel, graceful: boolean): void {
    if (this.closing) return;
    this.closing = true;
    const fields = { ...this.logFields, reason };
    this.stopWork();
    if (graceful && !this.socket.destroyed) {
      this.socket.end();
      const t = setTimeout(() => this.socket.destroy(), this.hooks.limits.closeGraceMs);
      t.unref();
      this.socket.once("close", () => clearTimeout(t));
    } else {
      this.socket.destroy();
    }
    this.endPublish();
    this.log(level, "rtmp connection closed", fields);
  }

  /** No more parsing, reading or timers. */
  private stopWork(): void {
    this.state = "closed";
    this.reader.stop();
    this.batcher.stop();
    this.clearTimers();
    if (this.idleTimer) clearTimeout(this.idleTimer);
  }

  private endPublish(): void {
    const publisher = this.publisher;
    if (!publisher) return;
    try {
      publisher.end();
    } catch (err) {
      this.log("warn", "rtmp publisher close listener failed", { session: this.id, err: (err as Error)?.message });
    }
  }

  private onSocketClose(): void {
    if (!this.closing) {
      this.closing = true;
      const wasPublishing = this.state === "publishing";
      const fields = this.logFields;
      this.stopWork();
      this.endPublish();
      this.log("info", wasPublishing ? "rtmp publisher disconnected" : "rtmp connection closed by peer", fields);
    }
    if (!this.closedNotified) {
      this.closedNotified = true;
      this.hooks.onClosed();
    }
  }

  // ---- bytes in -------------------------------------------------------------

  private onData(data: Buffer): void {
    if (this.closing) return;
    this.bytesIn += data.length;
    let rest = data;
    if (this.state === "handshake") {
      const step = this.handshake.push(data);
      if (step.reply) this.socket.write(step.reply);
      if (!step.done) return;
      this.state = "connect";
      rest = step.rest;
    }
    if (rest.length > 0) this.reader.push(rest);
    if (this.ackWindow > 0 && this.bytesIn - this.ackedAt >= this.ackWindow) {
      this.ackedAt = this.bytesIn;
      this.send(controlMessage.acknowledgement(this.bytesIn));
    }
    if (this.mediaSinceClock) {
      this.mediaSinceClock = false;
      this.lastMediaAt = Date.now();
    }
    // A publisher is read in batches (socket-input.ts): the kernel gathers what the encoder sends meanwhile.
    if (this.state === "publishing" && !this.closing) this.batcher.afterRead();
  }

  private onMessage(m: RtmpMessage): void {
    if (this.closing) return;
    const p = m.payload;
    const control = controlAction(m.typeId, p, this.hooks.limits);
    if (control) return this.onControl(control);
    switch (m.typeId) {
      case MessageType.CommandAmf0:
        return this.onCommand(m, decodeAmf0(p));
      case MessageType.CommandAmf3:
        // An AMF3 command message is a format byte (0) followed by AMF0 values.
        return this.onCommand(m, decodeAmf0(p.subarray(1)));
      case MessageType.Audio:
      case MessageType.Video:
      case MessageType.DataAmf0:
        return this.onMedia(MEDIA_KIND[m.typeId]!, m.timestamp, p);
      case MessageType.DataAmf3:
        return this.onMedia("script", m.timestamp, p.subarray(1));
      case MessageType.Aggregate:
        return forEachAggregateTag(m.timestamp, p, (kind, ts, body) => this.onMedia(kind, ts, body));
      default:
        // The reader only lets through the types maxMessageLength allows.
        throw new SessionProtocolError(`unexpected message type ${m.typeId}`);
    }
  }

  private onControl(c: ControlAction): void {
    if (c.kind === "chunk-size") this.reader.setChunkSize(c.size);
    else if (c.kind === "abort") this.reader.abort(c.csid);
    else if (c.kind === "ack-window") this.ackWindow = c.size;
    else if (c.kind === "ping") this.send(controlMessage.userControl(UserControlEvent.PingResponse, c.value));
  }

  // ---- media ----------------------------------------------------------------

  private onMedia(kind: RtmpMediaKind, timestampMs: number, payload: Buffer): void {
    const publisher = this.publisher;
    if (!publisher || !this.mediaAllowed) return;
    this.mediaSinceClock = true;
    const data = kind === "script" ? stripSetDataFrame(payload) : payload;
    if (data.length === 0) return;
    publisher.deliver({ kind, timestampMs, data });
    if (this.state === "publish-pending" && !this.batcher.holding && publisher.heldBytes > this.hooks.limits.maxHeldMediaBytes) {
      // Admission is slow: let TCP push back instead of buffering more.
      this.batcher.hold();
    }
  }

  private armIdle(): void {
    const { idleTimeoutMs } = this.hooks.limits;
    const wait = Math.max(0, this.lastMediaAt + idleTimeoutMs - Date.now());
    this.idleTimer = setTimeout(() => {
      this.guard(() => {
        if (this.closing) return;
        if (Date.now() - this.lastMediaAt >= idleTimeoutMs) this.fail(`no media for ${idleTimeoutMs} ms`);
        else this.armIdle();
      });
    }, wait);
    this.idleTimer.unref();
  }

  // ---- commands -------------------------------------------------------------

  private onCommand(m: RtmpMessage, values: Amf0Value[]): void {
    const [name, tid, , ...args] = values;
    if (typeof name !== "string") throw new SessionProtocolError("command without a name");
    const transId = typeof tid === "number" && Number.isFinite(tid) ? tid : 0;
    if (this.state === "connect" && name !== "connect") throw new SessionProtocolError("command before connect");
    switch (name) {
      case "connect":
        return this.onConnect(transId, values[2]);
      case "releaseStream":
      case "FCPublish":
        return this.send(commandMessage(0, "_result", transId, null, undefined));
      case "createStream":
        return this.onCreateStream(transId);
      case "publish":
        return this.onPublish(m.streamId, args[0]);
      case "FCUnpublish":
        return;
      case "deleteStream":
        return this.onDeleteStream(typeof args[0] === "number" ? args[0] : m.streamId);
      case "closeStream":
        return this.onDeleteStream(m.streamId);
      case "play":
      case "play2":
        this.log("info", "rtmp play refused", { session: this.id, remoteAddress: this.remoteAddress });
        this.send(onStatus(m.streamId, "error", "NetStream.Play.Failed", "RTMP playback is not supported here; use HLS or WebRTC"));
        return this.close("play is not supported", "info", true);
      default:
        if (transId > 0) this.send(methodNotFound(transId));
    }
  }

  private onConnect(transId: number, cmdObj: Amf0Value): void {
    if (this.state !== "connect") throw new SessionProtocolError("second connect");
    if (!isObject(cmdObj) || typeof cmdObj.app !== "string") throw new SessionProtocolError("connect without an app");
    // rtmp://host/live?token=x and OBS's "rtmp://host/live/" both mean app "live".
    this.app = withoutQuery(cmdObj.app).replace(/\/+$/, "");
    this.state = "connected";
    for (const reply of connectReplies(transId)) {
      this.send(reply);
      if (reply.typeId === MessageType.SetChunkSize) this.outChunkSize = OUT_CHUNK_SIZE; // from the next message on
    }
  }

  private onCreateStream(transId: number): void {
    if (this.streamIds.size >= MAX_STREAMS_PER_CONNECTION) throw new SessionProtocolError(`more than ${MAX_STREAMS_PER_CONNECTION} createStream calls`);
    const id = this.nextStreamId++;
    this.streamIds.add(id);
    this.send(commandMessage(0, "_result", transId, null, id));
  }

  private onPublish(streamId: number, rawName: Amf0Value): void {
    if (this.state !== "connected") throw new SessionProtocolError("publish twice on one connection");
    if (!this.streamIds.has(streamId)) throw new SessionProtocolError("publish on a stream createStream did not create");
    if (typeof rawName !== "string") throw new SessionProtocolError("publish without a stream name");
    this.streamName = withoutQuery(rawName);
    this.publishStreamId = streamId;
    this.state = "publish-pending";
    const publisher = new PublisherHandle(this.id, () => this.closeNow("closed by the server"));
    this.publisher = publisher;
    if (!this.streamName) return this.refuse("missing stream key");
    const req: RtmpPublishRequest = { sessionId: this.id, app: this.app, name: this.streamName, remoteAddress: this.remoteAddress };
    // A throw inside onPublish rejects the decision like a rejected promise does.
    const decision = new Promise<true | string>((resolve) => resolve(this.hooks.onPublish(req, publisher)));
    decision.then(
      (d) => this.guard(() => this.decided(d)),
      (err: unknown) => this.guard(() => this.decided(`admission failed: ${(err as Error)?.message ?? String(err)}`)),
    );
  }

  private decided(decision: true | string): void {
    if (this.closing || this.state !== "publish-pending") return;
    if (decision !== true) return this.refuse(typeof decision === "string" ? decision : "refused");
    this.state = "publishing";
    this.clearTimers(); // handshake and publish deadlines are met
    this.send(controlMessage.userControl(UserControlEvent.StreamBegin, this.publishStreamId));
    this.send(onStatus(this.publishStreamId, "status", "NetStream.Publish.Start", "Publishing."));
    this.log("info", "rtmp publishing", this.logFields);
    this.lastMediaAt = Date.now();
    this.armIdle();
    this.publisher!.accept();
    if (!this.closing) this.batcher.release();
  }

  private refuse(reason: string): void {
    this.log("warn", "rtmp publish refused", { ...this.logFields, reason });
    this.send(onStatus(this.publishStreamId, "error", "NetStream.Publish.BadName", reason));
    this.close("publish refused", "info", true);
  }

  private onDeleteStream(streamId: number): void {
    if (this.mediaAllowed && streamId === this.publishStreamId) return this.close("publisher unpublished", "info", true);
    this.streamIds.delete(streamId);
  }
}
