// A publisher as the RTMP server's owner sees it: media messages and FLV out, close notification, close().
import { flvHeader, flvTag, type RtmpMedia } from "./flv.ts";

export type { RtmpMedia, RtmpMediaKind } from "./flv.ts";

export interface RtmpPublishRequest {
  sessionId: string;
  /** The application from `connect` (rtmp://host/<app>/...), query string removed. */
  app: string;
  /** The stream name from `publish` (the stream key), query string removed. A secret: never log it. */
  name: string;
  remoteAddress: string;
}

/**
 * An accepted publisher. Register listeners before `onPublish` resolves `true`: delivery starts
 * then, with whatever arrived while admission was pending, in order.
 */
export interface RtmpPublisher {
  readonly sessionId: string;
  /** Each complete audio/video/script message with its absolute timestamp. */
  onMedia(listener: (media: RtmpMedia) => void): void;
  /** The same messages as an FLV byte stream: the FLV header first, then one tag per chunk. */
  onFlv(listener: (chunk: Buffer) => void): void;
  /** The publish ended (publisher left, deleteStream, timeout, close()). Called once, only after acceptance. */
  onClose(listener: () => void): void;
  /** Disconnect the publisher now. */
  close(): void;
}

export class PublisherHandle implements RtmpPublisher {
  private readonly mediaListeners: Array<(media: RtmpMedia) => void> = [];
  private readonly flvListeners: Array<{ fn: (chunk: Buffer) => void; headerSent: boolean }> = [];
  private readonly closeListeners: Array<() => void> = [];
  private state: "pending" | "accepted" | "ended" = "pending";
  private held: RtmpMedia[] = [];
  private heldTotal = 0;

  constructor(
    readonly sessionId: string,
    private readonly closeConnection: () => void,
  ) {}

  onMedia(listener: (media: RtmpMedia) => void): void {
    this.mediaListeners.push(listener);
  }

  onFlv(listener: (chunk: Buffer) => void): void {
    this.flvListeners.push({ fn: listener, headerSent: false });
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  close(): void {
    this.closeConnection();
  }

  get accepted(): boolean {
    return this.state === "accepted";
  }

  /** Bytes of media held while admission is pending. */
  get heldBytes(): number {
    return this.heldTotal;
  }

  /** From the session: one media message. Held until accept(), dropped after end(). */
  deliver(media: RtmpMedia): void {
    if (this.state === "ended") return;
    if (this.state === "pending") {
      this.held.push(media);
      this.heldTotal += media.data.length;
      return;
    }
    this.emit(media);
  }

  /** Admission said yes: deliver what was held, then everything as it arrives. */
  accept(): void {
    if (this.state !== "pending") return;
    this.state = "accepted";
    const backlog = this.held;
    this.held = [];
    this.heldTotal = 0;
    for (const media of backlog) {
      if (this.state !== "accepted") return;
      this.emit(media);
    }
  }

  /** The publish is over. Close listeners run once, if it had been accepted; all run even if one throws. */
  end(): void {
    const wasAccepted = this.state === "accepted";
    this.state = "ended";
    this.held = [];
    this.heldTotal = 0;
    if (!wasAccepted) return;
    let firstError: unknown;
    for (const listener of this.closeListeners.splice(0)) {
      try {
        listener();
      } catch (err) {
        firstError ??= err;
      }
    }
    if (firstError !== undefined) throw firstError;
  }

  private emit(media: RtmpMedia): void {
    for (const listener of this.mediaListeners) listener(media);
    if (this.flvListeners.length === 0) return;
    const tag = flvTag(media);
    for (const l of this.flvListeners) {
      if (!l.headerSent) {
        l.headerSent = true;
        l.fn(flvHeader());
      }
      l.fn(tag);
    }
  }
}
