// A small typed facade over node-media-server 4.x (which ships no types).
// Caveats handled here: its prePublish cannot await (we decide synchronously and
// destroy rejected sockets), its donePublish comes 30 s late (we watch the socket),
// one instance per process, process.exit(1) on a taken port (we check first),
// and it writes ./data unless store.path is set.
import { createRequire } from "node:module";
import net from "node:net";
import { join } from "node:path";

const require = createRequire(import.meta.url);

interface NmsSession {
  id: string;
  ip: string;
  protocol: string;
  streamApp: string;
  streamName: string;
  streamPath: string;
  streamQuery: Record<string, string>;
  socket?: net.Socket;
  broadcast: NmsBroadcast;
}
interface NmsBroadcast {
  publishGraceMs: number;
  postPlay(session: unknown): string | null;
  donePlay(session: unknown): void;
}
interface NmsInstance {
  on(event: string, listener: (session: NmsSession) => void): void;
  run(): Promise<void>;
  stop(): Promise<void>;
}

export interface RtmpPublishRequest {
  sessionId: string;
  app: string;
  name: string;
  remoteAddress: string;
}

/** A publisher accepted by the facade's owner: FLV bytes out, close notifications. */
export interface RtmpPublisher {
  readonly sessionId: string;
  onFlv(listener: (chunk: Buffer) => void): void;
  onClose(listener: () => void): void;
  close(): void;
}

export interface RtmpServerOptions {
  host: string;
  port: number;
  dataDir: string;
  /**
   * Decide whether to accept a publisher. node-media-server cannot wait, so the facade
   * holds the publisher's media (unread) until this resolves: `true` starts delivery,
   * a string refuses and disconnects.
   */
  onPublish(req: RtmpPublishRequest, publisher: RtmpPublisher): Promise<true | string>;
  onLog?(level: "info" | "warn", msg: string, fields: Record<string, unknown>): void;
}

let instanceRunning = false;

export async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === "EADDRINUSE" ? `RTMP port ${host}:${port} is already in use` : `RTMP port ${host}:${port}: ${err.message}`)),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

export class RtmpServer {
  private nms?: NmsInstance;

  constructor(private readonly opts: RtmpServerOptions) {}

  async start(): Promise<void> {
    if (instanceRunning) throw new Error("node-media-server allows one RTMP server per process");
    await assertPortFree(this.opts.host, this.opts.port);
    const NodeMediaServer = require("node-media-server") as new (config: unknown) => NmsInstance;
    this.nms = new NodeMediaServer({
      bind: this.opts.host,
      rtmp: { port: this.opts.port },
      store: { path: join(this.opts.dataDir, "nms") },
    });
    // The constructor sets its logger to debug; we keep our own structured logs.
    (require("node-media-server/src/core/logger.js") as { level: string }).level = "error";
    this.nms.on("prePublish", (session) => this.prePublish(session));
    this.nms.on("prePlay", (session) => {
      // Wharf serves playback over HLS/WebRTC; RTMP is ingest only.
      this.opts.onLog?.("info", "rtmp play refused", { session: session.id });
      session.socket?.destroy();
    });
    instanceRunning = true;
    await this.nms.run();
  }

  private prePublish(session: NmsSession): void {
    // Without this, node-media-server holds a gone publisher's path for 30 s.
    session.broadcast.publishGraceMs = 0;
    const socket = session.socket;
    if (!socket) return;
    const remoteAddress = socket.remoteAddress?.replace(/^::ffff:/, "") ?? "";
    const flvListeners: Array<(chunk: Buffer) => void> = [];
    const closeListeners: Array<() => void> = [];
    let closed = false;
    let accepted = false;
    let held: Buffer[] = [];
    let heldBytes = 0;
    // An internal subscriber (empty ip = no events) receiving the FLV byte stream.
    const subscriber = {
      id: `wharf-${session.id}`,
      ip: "",
      protocol: "flv",
      streamPath: session.streamPath,
      sendBuffer: (chunk: Buffer) => {
        if (accepted) {
          for (const l of flvListeners) l(chunk);
        } else if (heldBytes < 4 * 1024 * 1024) {
          held.push(Buffer.from(chunk));
          heldBytes += chunk.length;
        }
      },
      close: () => {},
    };
    const onClose = () => {
      if (closed) return;
      closed = true;
      held = [];
      session.broadcast.donePlay(subscriber);
      if (accepted) for (const l of closeListeners) l();
    };
    socket.once("close", onClose);
    const publisher: RtmpPublisher = {
      sessionId: session.id,
      onFlv: (l) => flvListeners.push(l),
      onClose: (l) => closeListeners.push(l),
      close: () => socket.destroy(),
    };
    session.broadcast.postPlay(subscriber);
    const refuse = (reason: string) => {
      this.opts.onLog?.("warn", "rtmp publish refused", { session: session.id, remoteAddress, reason });
      socket.destroy();
      onClose();
    };
    this.opts
      .onPublish({ sessionId: session.id, app: session.streamApp, name: session.streamName, remoteAddress }, publisher)
      .then(
        (decision) => {
          if (closed) return;
          if (decision !== true) return refuse(decision);
          accepted = true;
          const backlog = held;
          held = [];
          for (const chunk of backlog) for (const l of flvListeners) l(chunk);
        },
        (err: Error) => refuse(`admission failed: ${err.message}`),
      );
  }

  async stop(): Promise<void> {
    if (!this.nms) return;
    await this.nms.stop();
    this.nms = undefined;
    instanceRunning = false;
  }
}
