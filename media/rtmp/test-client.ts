// A scripted RTMP client for tests: handshake, commands, raw chunks out; the server's replies decoded.
import net from "node:net";
import { randomBytes } from "node:crypto";
import { decodeAmf0, encodeAmf0, type Amf0Object, type Amf0Value } from "./amf0.ts";
import { ChunkReader, type RtmpMessage } from "./chunk-reader.ts";
import { encodeChunks } from "./chunk-writer.ts";
import { HANDSHAKE_SIZE, RTMP_VERSION } from "./handshake.ts";
import { MessageType } from "./messages.ts";

export interface ServerReply extends RtmpMessage {
  /** AMF0 values of a command reply. */
  values?: Amf0Value[];
}

export class TestRtmpClient {
  readonly replies: ServerReply[] = [];
  /** Resolves when the server (or anyone) closed the socket. */
  readonly closed: Promise<void>;
  chunkSize = 128;
  private readonly reader: ChunkReader;
  private handshakeBytes = 0;
  private handshakeDone?: () => void;
  private waiters: Array<() => void> = [];
  private isClosed = false;
  private transactionId = 0;

  private constructor(readonly socket: net.Socket) {
    this.reader = new ChunkReader({
      maxChunkStreams: 64,
      maxMessageLength: () => 1 << 24,
      maxInFlightBytes: () => 1 << 26,
      onMessage: (m) => {
        if (m.typeId === MessageType.SetChunkSize) this.reader.setChunkSize(m.payload.readUInt32BE(0));
        const reply: ServerReply = { ...m };
        if (m.typeId === MessageType.CommandAmf0) reply.values = decodeAmf0(m.payload);
        this.replies.push(reply);
        this.wake();
      },
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
    socket.on("data", (data: Buffer) => {
      let rest = data;
      if (this.handshakeDone) {
        const need = 1 + 2 * HANDSHAKE_SIZE - this.handshakeBytes;
        const n = Math.min(need, rest.length);
        this.handshakeBytes += n;
        rest = rest.subarray(n);
        if (this.handshakeBytes === 1 + 2 * HANDSHAKE_SIZE) {
          const done = this.handshakeDone;
          this.handshakeDone = undefined;
          done();
        }
      }
      if (rest.length > 0 && !this.handshakeDone) this.reader.push(rest);
    });
  }

  static connect(port: number, opts: { host?: string; localAddress?: string } = {}): Promise<TestRtmpClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: opts.host ?? "127.0.0.1", localAddress: opts.localAddress });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new TestRtmpClient(socket));
      });
    });
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until pred holds (re-checked on every reply and on close). */
  async until<T>(label: string, pred: () => T | undefined | false, timeoutMs = 3000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pred();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${label}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Simple handshake: C0+C1, wait for S0+S1+S2, send C2. */
  async handshake(): Promise<void> {
    const c1 = randomBytes(HANDSHAKE_SIZE);
    c1.fill(0, 0, 8);
    const done = new Promise<void>((resolve) => (this.handshakeDone = resolve));
    this.socket.write(Buffer.concat([Buffer.of(RTMP_VERSION), c1]));
    await Promise.race([done, this.closed.then(() => Promise.reject(new Error("closed during handshake")))]);
    this.socket.write(randomBytes(HANDSHAKE_SIZE));
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  send(message: RtmpMessage): void {
    this.write(encodeChunks(message, this.chunkSize));
  }

  setChunkSize(size: number): void {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(size, 0);
    this.send({ csid: 2, typeId: MessageType.SetChunkSize, streamId: 0, timestamp: 0, payload });
    this.chunkSize = size;
  }

  /** Sends a command; returns its transaction id. */
  command(name: string, args: Amf0Value[] = [], opts: { streamId?: number; cmdObj?: Amf0Value; transId?: number } = {}): number {
    const transId = opts.transId ?? ++this.transactionId;
    const payload = encodeAmf0(name, transId, opts.cmdObj ?? null, ...args);
    this.send({ csid: 3, typeId: MessageType.CommandAmf0, streamId: opts.streamId ?? 0, timestamp: 0, payload });
    return transId;
  }

  /** The `_result`/`_error` for a transaction. */
  result(transId: number, timeoutMs = 3000): Promise<ServerReply> {
    return this.until(`reply to transaction ${transId}`, () =>
      this.replies.find((r) => (r.values?.[0] === "_result" || r.values?.[0] === "_error") && r.values[1] === transId),
      timeoutMs,
    );
  }

  /** The first onStatus with a given code prefix ("NetStream.Publish."). */
  status(codePrefix: string, timeoutMs = 3000): Promise<Amf0Object> {
    return this.until(`onStatus ${codePrefix}`, () => {
      for (const r of this.replies) {
        const info = r.values?.[3];
        if (r.values?.[0] === "onStatus" && info && typeof info === "object" && !Array.isArray(info) && !(info instanceof Date)) {
          const code = (info as Amf0Object).code;
          if (typeof code === "string" && code.startsWith(codePrefix)) return info as Amf0Object;
        }
      }
      return undefined;
    }, timeoutMs);
  }

  /** connect + createStream; returns the stream id. */
  async connectAndCreateStream(app = "live", tcUrl = `rtmp://127.0.0.1/${app}`): Promise<number> {
    const connectId = this.command("connect", [], { cmdObj: { app, type: "nonprivate", flashVer: "FMLE/3.0", tcUrl } });
    const connected = await this.result(connectId);
    if (connected.values?.[0] !== "_result") throw new Error("connect failed");
    this.command("releaseStream", ["x"]);
    this.command("FCPublish", ["x"]);
    const created = await this.result(this.command("createStream"));
    const streamId = created.values?.[3];
    if (typeof streamId !== "number") throw new Error("createStream returned no stream id");
    return streamId;
  }

  /** Handshake, connect, createStream, publish; does not wait for the decision. Returns the stream id. */
  async startPublish(name: string, app = "live"): Promise<number> {
    await this.handshake();
    const streamId = await this.connectAndCreateStream(app);
    this.command("publish", [name, "live"], { streamId, transId: 0 });
    return streamId;
  }

  media(typeId: number, streamId: number, timestamp: number, payload: Buffer, csid = typeId === MessageType.Audio ? 4 : 6): void {
    this.send({ csid, typeId, streamId, timestamp, payload });
  }

  close(): void {
    this.socket.destroy();
  }
}
