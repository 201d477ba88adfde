// Wharf's RTMP ingest server: the TCP listener, connection caps, and the facade ingest.ts uses.
import net from "node:net";
import { resolveLimits, type RtmpLimits } from "./limits.ts";
import type { RtmpPublisher, RtmpPublishRequest } from "./publisher.ts";
import { RtmpSession, type LogLevel } from "./session.ts";
import { READ_BUFFER_BYTES } from "./socket-input.ts";

export type { RtmpMedia, RtmpMediaKind, RtmpPublisher, RtmpPublishRequest } from "./publisher.ts";
export type { RtmpLimits } from "./limits.ts";
export { DEFAULT_RTMP_LIMITS } from "./limits.ts";

/** Bytes Node reads ahead from a paused socket before it stops reading. */
const PAUSED_READ_AHEAD_BYTES = 4096;

export interface RtmpServerOptions {
  host: string;
  /** 0 picks a free port (see `port` after start()). */
  port: number;
  /** Overrides of DEFAULT_RTMP_LIMITS. */
  limits?: Partial<RtmpLimits>;
  /**
   * Decide whether to accept a publisher: `true` starts delivery (media that arrived meanwhile
   * is held and delivered first), a string refuses with NetStream.Publish.BadName and disconnects.
   */
  onPublish(req: RtmpPublishRequest, publisher: RtmpPublisher): Promise<true | string>;
  /**
   * The publishers' onMedia listeners keep nothing of `data` after they return (they copy what they
   * need): the server then reads frames into buffers it reuses. Default false (each message its own).
   */
  mediaListenersCopy?: boolean;
  /** Structured log lines; fields never contain a stream key. */
  onLog?(level: LogLevel, msg: string, fields: Record<string, unknown>): void;
}

/** Connections refused at a cap are logged at most this often (a flood must not flood the logs). */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

export class RtmpServer {
  readonly limits: RtmpLimits;
  private server?: net.Server;
  private readonly sessions = new Set<RtmpSession>();
  private readonly perAddress = new Map<string, number>();
  private refusedSinceLog = 0;
  private lastRefusalLogAt = 0;
  /** Every connection is read into this one buffer (socket-input.ts): no buffer per read. */
  private readonly readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);

  constructor(private readonly opts: RtmpServerOptions) {
    this.limits = resolveLimits(opts.limits);
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    const addr = this.server?.address();
    return addr && typeof addr === "object" ? addr.port : this.opts.port;
  }

  /** Open connections (all states). */
  get connections(): number {
    return this.sessions.size;
  }

  /** Listens; rejects with a clear error when the port is taken. */
  async start(): Promise<void> {
    if (this.server) throw new Error("RTMP server already started");
    const { host, port } = this.opts;
    // Connections arrive paused: the session moves them to its own read buffer (socket-input.ts).
    // A small readable high-water mark for the fallback (a socket read the ordinary way): a paused
    // publisher socket (PUBLISH_READ_TICK_MS) stops being read after one chunk.
    const server = net.createServer({ highWaterMark: PAUSED_READ_AHEAD_BYTES, pauseOnConnect: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        server.close();
        reject(
          new Error(
            err.code === "EADDRINUSE"
              ? `RTMP port ${host}:${port} is already in use`
              : `RTMP server could not listen on ${host}:${port}: ${err.message}`,
          ),
        );
      };
      server.once("error", onError);
      server.listen(port, host, () => {
        server.off("error", onError);
        resolve();
      });
    });
    server.on("error", (err) => this.log("warn", "rtmp listener error", { err: err.message }));
    this.server = server;
  }

  /** Stops listening and disconnects everyone (publishers' onClose runs). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const session of [...this.sessions]) session.closeNow("server stopping");
    await closed;
  }

  private accept(socket: net.Socket): void {
    socket.on("error", () => {
      // handled by the session; until then nothing to do
    });
    try {
      const address = (socket.remoteAddress ?? "").replace(/^::ffff:/, "");
      if (!address) {
        socket.destroy();
        return;
      }
      if (this.sessions.size >= this.limits.maxConnections) {
        return this.refuse(socket, address, `at the total cap of ${this.limits.maxConnections} connections`);
      }
      const fromAddress = this.perAddress.get(address) ?? 0;
      if (fromAddress >= this.limits.maxConnectionsPerAddress) {
        return this.refuse(socket, address, `at the cap of ${this.limits.maxConnectionsPerAddress} connections per address`);
      }
      this.perAddress.set(address, fromAddress + 1);
      const session: RtmpSession = new RtmpSession(socket, address, {
        limits: this.limits,
        readBuffer: this.readBuffer,
        mediaListenersCopy: this.opts.mediaListenersCopy,
        onPublish: (req, publisher) => this.opts.onPublish(req, publisher),
        log: (level, msg, fields) => this.log(level, msg, fields),
        onClosed: () => {
          this.sessions.delete(session);
          const n = (this.perAddress.get(address) ?? 1) - 1;
          if (n <= 0) this.perAddress.delete(address);
          else this.perAddress.set(address, n);
        },
      });
      this.sessions.add(session);
    } catch (err) {
      this.log("warn", "rtmp accept failed", { err: (err as Error)?.message });
      socket.destroy();
    }
  }

  private refuse(socket: net.Socket, address: string, reason: string): void {
    socket.destroy();
    this.refusedSinceLog++;
    const now = Date.now();
    if (now - this.lastRefusalLogAt >= REFUSAL_LOG_INTERVAL_MS) {
      this.log("warn", "rtmp connections refused", { refused: this.refusedSinceLog, lastRemoteAddress: address, reason });
      this.refusedSinceLog = 0;
      this.lastRefusalLogAt = now;
    }
  }

  private log(level: LogLevel, msg: string, fields: Record<string, unknown>): void {
    try {
      this.opts.onLog?.(level, msg, fields);
    } catch {
      // a failing logger must not take the server down
    }
  }
}
