// The trickle server's channel registry: creating, finding, closing and sweeping idle channels.
import { EventEmitter } from "node:events";
import { moduleLogger, type Logger } from "../../core/log.ts";
import { Channel } from "./channel.ts";
import { validChannelName } from "./wire.ts";

export interface TrickleServerOptions {
  /** A channel with no new segment for this long is removed. Default 5 min. */
  idleTimeoutMs?: number;
  /** How often the idle sweep runs. Default min(60 s, idleTimeoutMs). */
  sweepIntervalMs?: number;
  /** `100 Continue` keepalive period while a preconnected POST has sent no byte. Default 10 s. */
  keepaliveIntervalMs?: number;
  /** Publishing to an unknown channel creates it (go-livepeer `Autocreate`). Default false: 404. */
  autocreate?: boolean;
  /** `POST B/{channel}` creates the channel. Default true (false: 404 unless it exists, like go-livepeer without Autocreate). */
  httpCreate?: boolean;
  logger?: Logger;
}

export type ChannelCloseReason = "deleted" | "idle" | "shutdown";

export interface TrickleServerEvents {
  "channel-created": [name: string, mimeType: string];
  "channel-closed": [name: string, reason: ChannelCloseReason];
  /** The first byte of a segment arrived (HTTP or local publish). */
  "segment-started": [name: string, seq: number];
}

export class ChannelRegistry extends EventEmitter<TrickleServerEvents> {
  readonly idleTimeoutMs: number;
  readonly sweepIntervalMs: number;
  readonly keepaliveIntervalMs: number;
  readonly autocreate: boolean;
  readonly httpCreate: boolean;
  protected readonly log: Logger;
  private readonly channels = new Map<string, Channel>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(opts: TrickleServerOptions = {}) {
    super();
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 5 * 60_000;
    this.sweepIntervalMs = opts.sweepIntervalMs ?? Math.min(60_000, this.idleTimeoutMs);
    this.keepaliveIntervalMs = opts.keepaliveIntervalMs ?? 10_000;
    this.autocreate = opts.autocreate ?? false;
    this.httpCreate = opts.httpCreate ?? true;
    this.log = opts.logger ?? moduleLogger("trickle-server");
  }

  /** Starts the idle sweep (idempotent). */
  start(): this {
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweepIdle(), this.sweepIntervalMs);
      this.sweeper.unref();
    }
    return this;
  }

  /** Stops the sweep and closes every channel (subscribers get `Lp-Trickle-Closed`). */
  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const name of [...this.channels.keys()]) this.deleteChannel(name, "shutdown");
  }

  // ---- channel registry ------------------------------------------------------------

  /** Creates a channel (idempotent: an existing channel is returned unchanged). */
  createChannel(name: string, mimeType = "application/octet-stream"): Channel {
    if (!validChannelName(name)) throw new Error(`invalid trickle channel name ${JSON.stringify(name)}`);
    let ch = this.channels.get(name);
    if (!ch) {
      ch = new Channel(name, mimeType);
      this.channels.set(name, ch);
      this.log.debug({ channel: name, mimeType }, "trickle channel created");
      this.emit("channel-created", name, mimeType);
    }
    return ch;
  }

  getChannel(name: string): Channel | undefined {
    return this.channels.get(name);
  }

  hasChannel(name: string): boolean {
    return this.channels.has(name);
  }

  channelNames(): string[] {
    return [...this.channels.keys()];
  }

  /** Closes and removes a channel; false if unknown. */
  deleteChannel(name: string, reason: ChannelCloseReason = "deleted"): boolean {
    const ch = this.channels.get(name);
    if (!ch) return false;
    this.channels.delete(name);
    ch.close();
    this.log.debug({ channel: name, reason }, "trickle channel closed");
    this.emit("channel-closed", name, reason);
    return true;
  }

  /** Removes channels idle longer than idleTimeoutMs (channels named `_...` are internal and kept). Returns their names. */
  sweepIdle(now = Date.now()): string[] {
    const removed: string[] = [];
    for (const ch of [...this.channels.values()]) {
      if (ch.name.startsWith("_")) continue;
      if (now - ch.writeTime > this.idleTimeoutMs) {
        this.deleteChannel(ch.name, "idle");
        removed.push(ch.name);
      }
    }
    if (removed.length > 0) this.log.debug({ channels: removed }, "swept idle trickle channels");
    return removed;
  }

  protected requireChannel(name: string): Channel {
    const ch = this.channels.get(name);
    if (!ch) throw new Error(`unknown trickle channel ${JSON.stringify(name)}`);
    return ch;
  }

  /** Marks segment `seq` as started (first byte written) and tells listeners. */
  noteWriteStarted(ch: Channel, seq: number): void {
    ch.markWriteStarted(seq);
    this.emit("segment-started", ch.name, seq);
  }
}
