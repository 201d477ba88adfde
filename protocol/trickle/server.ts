// Trickle server: hosts channels of numbered, streamed segments under a base path
// (the orchestrator mounts it at `{serviceUrl}/ai/trickle/`). Wire semantics follow
// go-livepeer's trickle server; see /work/shared/livepeer-wire.md section 6.
//
//   POST   B/{channel}         create (MIME type from `Expect-Content`)
//   POST   B/{channel}/{seq}   publish a segment (body streamed; -1 = next write index;
//                              `Lp-Trickle-Reset` closes older open segments)
//   GET    B/{channel}/{seq}   subscribe (streamed; -1 = next segment, -2 = current one)
//   GET    B/{channel}/next    next write index (body and `Lp-Trickle-Latest`)
//   DELETE B/{channel}/{seq}   close one segment
//   DELETE B/{channel}         close the channel
//
// Besides HTTP, the orchestrator publishes and subscribes in-process (publish(),
// localPublisher(), subscribe()) on the very same channels.

import { EventEmitter } from "node:events";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import { moduleLogger, type Logger } from "../../core/log.ts";
import { Channel, Segment, SegmentReader } from "./channel.ts";

export { Channel, Segment, SegmentReader, RING_SIZE } from "./channel.ts";

export const HEADER_SEQ = "Lp-Trickle-Seq";
export const HEADER_LATEST = "Lp-Trickle-Latest";
export const HEADER_CLOSED = "Lp-Trickle-Closed";
export const HEADER_RESET = "Lp-Trickle-Reset";
/** Status for "the channel exists but that seq is gone or too far ahead". */
export const STATUS_SEQ_NOT_FOUND = 470;

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

/** Request/response objects of node:http and node:http2 (compat API) both fit these. */
export type TrickleHttpRequest = IncomingMessage | Http2ServerRequest;
export type TrickleHttpResponse = ServerResponse | Http2ServerResponse;

interface Res {
  statusCode: number;
  headersSent: boolean;
  writableEnded: boolean;
  destroyed?: boolean;
  writeHead(status: number, headers?: Record<string, string | number>): unknown;
  write(chunk: Uint8Array | string): boolean;
  end(chunk?: Uint8Array | string): unknown;
  writeContinue(): void;
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  once(event: string, fn: (...args: unknown[]) => void): unknown;
  off(event: string, fn: (...args: unknown[]) => void): unknown;
}

interface Req {
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHttpHeaders;
  httpVersionMajor: number;
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  off(event: string, fn: (...args: unknown[]) => void): unknown;
  resume(): unknown;
}

const SEQ_RE = /^-?\d{1,15}$/;

function parseSeq(raw: string): number | undefined {
  if (!SEQ_RE.test(raw)) return undefined;
  const n = Number(raw);
  return n >= -2 ? n : undefined;
}

function validChannelName(name: string): boolean {
  return name.length > 0 && name.length <= 256 && !name.includes("/") && name !== "." && name !== "..";
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

function toBuffer(data: Uint8Array | string): Buffer {
  return typeof data === "string" ? Buffer.from(data) : Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class TrickleServer extends EventEmitter<TrickleServerEvents> {
  readonly idleTimeoutMs: number;
  readonly sweepIntervalMs: number;
  readonly keepaliveIntervalMs: number;
  readonly autocreate: boolean;
  readonly httpCreate: boolean;
  private readonly log: Logger;
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

  private requireChannel(name: string): Channel {
    const ch = this.channels.get(name);
    if (!ch) throw new Error(`unknown trickle channel ${JSON.stringify(name)}`);
    return ch;
  }

  // ---- in-process API ---------------------------------------------------------------

  /** Opens segment `seq` (-1 = the next write index) of a channel for writing in-process. */
  publish(name: string, seq = -1, opts: { reset?: boolean } = {}): LocalSegmentWriter {
    const ch = this.requireChannel(name);
    const resolved = ch.resolveWriteSeq(seq);
    if (resolved < 0) throw new Error(`invalid trickle publish seq ${seq}`);
    if (opts.reset) ch.reset(resolved);
    return new LocalSegmentWriter(this, ch, resolved, ch.getForWrite(resolved));
  }

  /** Writes one whole segment in-process; resolves with its seq. */
  async writeSegment(name: string, data: Uint8Array | string | AsyncIterable<Uint8Array>, seq = -1): Promise<number> {
    const w = this.publish(name, seq);
    try {
      if (typeof data === "string" || data instanceof Uint8Array) w.write(data);
      else for await (const chunk of data) w.write(chunk);
    } finally {
      w.end();
    }
    return w.seq;
  }

  /** A sequential in-process publisher for one channel (seqs counted from the channel's write head). */
  localPublisher(name: string): LocalPublisher {
    return new LocalPublisher(this, name);
  }

  /** In-process subscription with the same semantics as `GET B/{channel}/{seq}`. */
  subscribe(name: string, opts: { start?: number } = {}): LocalSubscriber {
    return new LocalSubscriber(this, name, opts.start ?? -1);
  }

  /** @internal */
  noteWriteStarted(ch: Channel, seq: number): void {
    ch.markWriteStarted(seq);
    this.emit("segment-started", ch.name, seq);
  }

  // ---- HTTP -------------------------------------------------------------------------

  /**
   * Serves one trickle request. `path` is the part after the base path, e.g. `chan/3` (URL
   * encoded, query ignored). Works with node:http and the node:http2 compat API.
   */
  handle(req: TrickleHttpRequest, res: TrickleHttpResponse, path: string): void {
    const q = path.indexOf("?");
    const clean = (q >= 0 ? path.slice(0, q) : path).replace(/^\/+/, "");
    const parts = clean.split("/");
    if (parts.length > 2) return this.sendText(req as Req, res as Res, 404, "Not found");
    let channel: string;
    try {
      channel = decodeURIComponent(parts[0] ?? "");
    } catch {
      return this.sendText(req as Req, res as Res, 400, "Invalid channel name");
    }
    this.route((req.method ?? "GET").toUpperCase(), channel, parts[1], req, res);
  }

  /** Serves one trickle request already split into channel and (optional) seq path segment. */
  route(method: string, channel: string, seq: string | undefined, req: TrickleHttpRequest, res: TrickleHttpResponse): void {
    const rq = req as Req;
    const rs = res as Res;
    try {
      if (!validChannelName(channel)) return this.sendText(rq, rs, 400, "Invalid channel name");
      if (seq === undefined) {
        if (method === "POST") return this.httpCreateChannel(channel, rq, rs);
        if (method === "DELETE") return this.httpDeleteChannel(channel, rq, rs);
        return this.sendText(rq, rs, 405, "Method not allowed", { Allow: "POST, DELETE" });
      }
      const ch = this.channels.get(channel);
      if (method === "GET" && seq === "next") return this.httpNext(ch, rq, rs);
      if (method !== "GET" && method !== "POST" && method !== "DELETE") {
        return this.sendText(rq, rs, 405, "Method not allowed", { Allow: "GET, POST, DELETE" });
      }
      const n = parseSeq(seq);
      if (method === "POST") {
        let target = ch;
        if (!target && this.autocreate && n !== undefined) {
          target = this.createChannel(channel, headerValue(rq.headers["content-type"]) ?? "application/octet-stream");
        }
        if (!target) return this.notFound(rq, rs);
        if (n === undefined || n === -2) return this.sendText(rq, rs, 400, "Invalid idx", {}, true);
        return this.httpPublish(target, n, rq, rs);
      }
      if (!ch) return this.notFound(rq, rs);
      if (n === undefined) return this.sendText(rq, rs, 400, "Invalid idx");
      if (method === "GET") {
        void this.httpSubscribe(ch, n, rq, rs).catch((err: unknown) => {
          this.log.warn({ err, channel, seq }, "trickle GET failed");
          this.safeDestroy(rs);
        });
        return;
      }
      // DELETE B/{channel}/{seq}
      if (!ch.closeSegment(n)) return this.sendText(rq, rs, 400, "Nonexistent segment");
      return this.sendText(rq, rs, 200, "");
    } catch (err) {
      this.log.error({ err, channel, seq }, "trickle request failed");
      if (!rs.headersSent) this.sendText(rq, rs, 500, "Server error");
      else this.safeDestroy(rs);
    }
  }

  private safeDestroy(res: Res): void {
    const d = (res as unknown as { destroy?: () => void }).destroy;
    if (typeof d === "function") d.call(res);
  }

  private sendText(
    req: Req,
    res: Res,
    status: number,
    body: string,
    headers: Record<string, string | number> = {},
    connectionClose = false,
  ): void {
    if (res.headersSent || res.writableEnded) return;
    const h: Record<string, string | number> = {
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": Buffer.byteLength(body),
      ...headers,
    };
    if (connectionClose && req.httpVersionMajor < 2) h["Connection"] = "close";
    res.writeHead(status, h);
    res.end(body);
    // Do not read a request body we are not going to use.
    if (connectionClose) req.resume();
  }

  /** 404 for an unknown channel: terminal for clients; `Connection: close` wakes preconnected requests. */
  private notFound(req: Req, res: Res): void {
    this.sendText(req, res, 404, "Stream not found", {}, true);
  }

  private httpCreateChannel(name: string, req: Req, res: Res): void {
    const mime = headerValue(req.headers["expect-content"]) ?? "application/octet-stream";
    if (!this.channels.has(name) && !this.httpCreate && !this.autocreate) return this.notFound(req, res);
    this.createChannel(name, mime);
    req.resume();
    this.sendText(req, res, 200, "");
  }

  private httpDeleteChannel(name: string, req: Req, res: Res): void {
    req.resume();
    if (!this.deleteChannel(name, "deleted")) return this.notFound(req, res);
    this.sendText(req, res, 200, "");
  }

  private httpNext(ch: Channel | undefined, req: Req, res: Res): void {
    if (!ch) return this.notFound(req, res);
    const headers: Record<string, string> = { [HEADER_LATEST]: String(ch.nextWrite) };
    if (ch.closed) headers[HEADER_CLOSED] = "terminated";
    this.sendText(req, res, 200, String(ch.nextWrite), headers);
  }

  private httpPublish(ch: Channel, requested: number, req: Req, res: Res): void {
    const seq = ch.resolveWriteSeq(requested);
    if (headerValue(req.headers[HEADER_RESET.toLowerCase()]) !== undefined) ch.reset(seq);
    const segment = ch.getForWrite(seq);
    const log = this.log;
    let total = 0;
    let finished = false;

    const keepalive = setInterval(() => {
      if (total === 0 && !finished && !res.headersSent) {
        log.debug({ channel: ch.name, seq }, "trickle POST keepalive (100 Continue)");
        try {
          res.writeContinue();
        } catch {
          /* response gone */
        }
      }
    }, this.keepaliveIntervalMs);
    keepalive.unref();

    const cleanup = () => {
      clearInterval(keepalive);
      unClose();
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onAbort);
      req.off("aborted", onAbort);
      res.off("close", onResClose);
    };
    const finish = (extra: Record<string, string>, connectionClose: boolean) => {
      if (finished) return;
      finished = true;
      cleanup();
      this.sendText(req, res, 200, "", { [HEADER_SEQ]: String(seq), ...extra }, connectionClose);
    };
    const onData = (...args: unknown[]) => {
      const chunk = args[0] as Buffer;
      if (finished || chunk.length === 0) return;
      if (total === 0) {
        clearInterval(keepalive);
        this.noteWriteStarted(ch, seq);
      }
      total += chunk.length;
      segment.write(chunk); // dropped if the segment was closed meanwhile (reset / DELETE seq)
    };
    const onEnd = () => {
      if (finished) return;
      if (total === 0) {
        // Empty segment: advance the head anyway so clients do not stall on this seq.
        ch.markWriteStarted(seq);
      }
      segment.close();
      finish(total === 0 ? closedHeader() : {}, total === 0);
    };
    const onAbort = () => {
      if (finished) return;
      finished = true;
      cleanup();
      // A publisher gone mid-segment: end the segment so subscribers are not left hanging.
      // With no byte written, keep the (fresh) segment for the publisher's retry.
      if (total > 0) segment.close();
      log.debug({ channel: ch.name, seq, bytes: total }, "trickle POST aborted by client");
    };
    const onResClose = () => {
      if (!finished) onAbort();
    };
    const closedHeader = (): Record<string, string> => (ch.closed ? { [HEADER_CLOSED]: "terminated" } : {});
    // The segment closes under us: channel deleted, segment DELETE, reset, or replaced.
    const unClose = segment.onClose(() => {
      if (finished) return;
      if (total === 0) {
        // A preconnected publisher with nothing sent yet: release it (go-livepeer answers 200 + Connection: close).
        if (!ch.closed) ch.markWriteStarted(seq);
        queueMicrotask(() => finish(closedHeader(), true));
      } else if (ch.closed) {
        queueMicrotask(() => finish(closedHeader(), true));
      }
      // Otherwise keep reading and drop the rest of the body.
    });

    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onAbort);
    req.on("aborted", onAbort);
    res.on("close", onResClose);
  }

  private async httpSubscribe(ch: Channel, requested: number, req: Req, res: Res): Promise<void> {
    req.resume();
    const target = ch.getForRead(requested);
    if (!target.segment) return this.sendMissing(target.seq, target.latest, target.closed, req, res, "Entry not found");

    const reader = target.segment.reader();
    let gone = false;
    const onClose = () => {
      gone = true;
      reader.cancel();
    };
    res.on("close", onClose);
    let total = 0;
    try {
      for (;;) {
        const chunk = await reader.read();
        if (gone || res.destroyed) return;
        if (chunk === null) break;
        if (total === 0) {
          const headers: Record<string, string> = {
            [HEADER_SEQ]: String(target.seq),
            "Content-Type": ch.mimeType || "application/octet-stream",
            "Cache-Control": "no-cache",
          };
          if (target.seq !== target.latest) headers[HEADER_LATEST] = String(target.latest);
          res.writeHead(200, headers);
        }
        total += chunk.length;
        if (!res.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              res.off("drain", done);
              res.off("close", done);
              resolve();
            };
            res.once("drain", done);
            res.once("close", done);
          });
        }
      }
      if (total === 0) {
        // The segment ended without a byte: channel closed (end of stream), or the segment was
        // dropped / fell out of the window (470 with the live edge so the client can jump).
        return this.sendMissing(target.seq, ch.nextWrite, ch.closed, req, res, "");
      }
      res.end();
    } finally {
      res.off("close", onClose);
    }
  }

  private sendMissing(seq: number, latest: number, closed: boolean, req: Req, res: Res, body: string): void {
    const headers: Record<string, string> = { [HEADER_SEQ]: String(seq), [HEADER_LATEST]: String(latest) };
    if (closed) {
      headers[HEADER_CLOSED] = "terminated";
      return this.sendText(req, res, 200, body, headers);
    }
    this.sendText(req, res, STATUS_SEQ_NOT_FOUND, body, headers);
  }
}

// ---- in-process publish/subscribe ---------------------------------------------------

/** An in-process writer for one segment. */
export class LocalSegmentWriter {
  private total = 0;
  private ended = false;

  constructor(
    private readonly server: TrickleServer,
    private readonly channel: Channel,
    readonly seq: number,
    private readonly segment: Segment,
  ) {}

  /** True once ended, or when the segment/channel was closed under the writer. */
  get closed(): boolean {
    return this.ended || this.segment.closed;
  }

  /** Appends bytes (subscribers get them immediately). False if the segment is closed. */
  write(data: Uint8Array | string): boolean {
    if (this.closed) return false;
    const buf = toBuffer(data);
    if (buf.length === 0) return true;
    if (this.total === 0) this.server.noteWriteStarted(this.channel, this.seq);
    this.total += buf.length;
    return this.segment.write(buf);
  }

  /** Ends the segment. */
  end(data?: Uint8Array | string): void {
    if (data !== undefined) this.write(data);
    if (this.ended) return;
    this.ended = true;
    if (this.total === 0 && !this.channel.closed) this.channel.markWriteStarted(this.seq);
    this.segment.close();
  }
}

/** Sequential in-process publisher: next() opens seq n, n+1, ... */
export class LocalPublisher {
  private seq: number;

  constructor(
    private readonly server: TrickleServer,
    readonly channel: string,
  ) {
    const ch = server.getChannel(channel);
    if (!ch) throw new Error(`unknown trickle channel ${JSON.stringify(channel)}`);
    this.seq = ch.nextWrite;
  }

  /** The seq the next call to next() opens. */
  get nextSeq(): number {
    return this.seq;
  }

  next(): LocalSegmentWriter {
    return this.server.publish(this.channel, this.seq++);
  }

  /** Writes one whole segment; resolves with its seq. */
  async write(data: Uint8Array | string | AsyncIterable<Uint8Array>): Promise<number> {
    return this.server.writeSegment(this.channel, data, this.seq++);
  }

  /** One JSON message as one segment; returns its seq. */
  writeJson(value: unknown): number {
    const w = this.next();
    w.end(JSON.stringify(value));
    return w.seq;
  }
}

/** A segment delivered to an in-process subscriber; `reader` yields bytes live. */
export interface LocalSegment {
  seq: number;
  reader: SegmentReader;
  buffer(): Promise<Buffer>;
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
}

export type LocalSubscriberEnd = "closed" | "not-found" | "cancelled";

/**
 * In-process subscriber with the HTTP semantics: start at `start` (-1 = next segment, -2 = the
 * current one), follow seq by seq, jump to the live edge when a seq fell out of the ring.
 * Iteration ends when the channel is closed or removed (see `endReason`).
 */
export class LocalSubscriber implements AsyncIterable<LocalSegment> {
  private seq: number;
  private cancelled = false;
  private wakeCancel: (() => void) | undefined;
  endReason: LocalSubscriberEnd | undefined;
  /** Segments skipped because the subscriber fell behind. */
  skipped = 0;

  constructor(
    private readonly server: TrickleServer,
    readonly channel: string,
    start: number,
  ) {
    this.seq = start;
  }

  close(): void {
    this.cancelled = true;
    this.endReason ??= "cancelled";
    this.wakeCancel?.();
  }

  /** The next segment once its first byte is written; null at the end of the stream. */
  async next(): Promise<LocalSegment | null> {
    for (;;) {
      if (this.cancelled) return null;
      const ch = this.server.getChannel(this.channel);
      if (!ch) {
        this.endReason ??= "not-found";
        return null;
      }
      const target = ch.getForRead(this.seq);
      const segment = target.segment;
      if (segment) {
        while (segment.fresh && !this.cancelled) {
          await new Promise<void>((resolve) => {
            this.wakeCancel = resolve;
            void segment.waitForChange().then(resolve);
          });
          this.wakeCancel = undefined;
        }
        if (this.cancelled) return null;
        if (segment.byteLength > 0) {
          this.seq = target.seq + 1;
          return makeLocalSegment(target.seq, segment);
        }
      }
      if (ch.closed) {
        this.endReason ??= "closed";
        return null;
      }
      // Gone, too far ahead, or dropped without data: go to the live edge.
      const latest = ch.nextWrite;
      if (latest > target.seq) {
        this.skipped += Math.max(0, latest - target.seq);
        this.seq = latest;
      } else {
        this.seq = latest;
        await delay(20);
      }
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LocalSegment> {
    try {
      for (;;) {
        const seg = await this.next();
        if (!seg) return;
        yield seg;
      }
    } finally {
      if (!this.endReason) this.close();
    }
  }
}

function makeLocalSegment(seq: number, segment: Segment): LocalSegment {
  const reader = segment.reader();
  const buffer = async () => {
    const parts: Buffer[] = [];
    for await (const c of reader) parts.push(c);
    return Buffer.concat(parts);
  };
  return {
    seq,
    reader,
    buffer,
    text: async () => (await buffer()).toString("utf8"),
    json: async <T>() => JSON.parse((await buffer()).toString("utf8")) as T,
  };
}

// ---- mounting -----------------------------------------------------------------------

/**
 * A plain node:http / node:http2 request listener for `basePath` (e.g. "/ai/trickle").
 * Returns false when the URL is not under the base path (so the caller can route it elsewhere).
 */
export function createTrickleHandler(
  server: TrickleServer,
  basePath: string,
): (req: TrickleHttpRequest, res: TrickleHttpResponse) => boolean {
  const base = basePath.replace(/\/+$/, "") + "/";
  return (req, res) => {
    const url = req.url ?? "/";
    if (!url.startsWith(base)) return false;
    server.handle(req, res, url.slice(base.length));
    return true;
  };
}

export interface TricklePluginOptions {
  server: TrickleServer;
}

/**
 * Fastify plugin: `app.register(tricklePlugin, { prefix: "/ai/trickle", server })`.
 * Request bodies are never buffered by fastify (a pass-through content-type parser is installed
 * in this plugin's encapsulated context) and responses are written raw (`reply.hijack()`), so
 * segments stream both ways.
 */
export const tricklePlugin: FastifyPluginAsync<TricklePluginOptions> = async (app: FastifyInstance, opts) => {
  const server = opts.server;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined));

  type P1 = { Params: { channel: string } };
  type P2 = { Params: { channel: string; seq: string } };
  const one = (method: string) => async (request: import("fastify").FastifyRequest<P1>, reply: import("fastify").FastifyReply) => {
    reply.hijack();
    server.route(method, request.params.channel, undefined, request.raw, reply.raw);
  };
  const two = (method: string) => async (request: import("fastify").FastifyRequest<P2>, reply: import("fastify").FastifyReply) => {
    reply.hijack();
    server.route(method, request.params.channel, request.params.seq, request.raw, reply.raw);
  };
  app.post<P1>("/:channel", one("POST"));
  app.delete<P1>("/:channel", one("DELETE"));
  app.get<P2>("/:channel/:seq", two("GET"));
  app.post<P2>("/:channel/:seq", two("POST"));
  app.delete<P2>("/:channel/:seq", two("DELETE"));
};
