// Trickle server: hosts channels of numbered, streamed segments under a base path
// (the orchestrator mounts it at `{serviceUrl}/ai/trickle/`). Wire semantics follow
// go-livepeer's trickle server; see protocol/trickle/README.md.
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

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Channel } from "./channel.ts";
import { LocalPublisher, LocalSubscriber, openSegmentWriter, writeWholeSegment, type LocalSegmentWriter } from "./local.ts";
import { ChannelRegistry } from "./registry.ts";
import { HEADER_CLOSED, HEADER_LATEST, HEADER_RESET, HEADER_SEQ, STATUS_SEQ_NOT_FOUND, headerValue, parseSeq, validChannelName } from "./wire.ts";

export { Channel, Segment, SegmentReader, RING_SIZE } from "./channel.ts";
export * from "./local.ts";
export { ChannelRegistry, type ChannelCloseReason, type TrickleServerEvents, type TrickleServerOptions } from "./registry.ts";
export { HEADER_CLOSED, HEADER_LATEST, HEADER_RESET, HEADER_SEQ, STATUS_SEQ_NOT_FOUND } from "./wire.ts";

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

export class TrickleServer extends ChannelRegistry {
  // ---- in-process API ---------------------------------------------------------------

  /** Opens segment `seq` (-1 = the next write index) of a channel for writing in-process. */
  publish(name: string, seq = -1, opts: { reset?: boolean } = {}): LocalSegmentWriter {
    return openSegmentWriter(this, name, seq, opts);
  }

  /** Writes one whole segment in-process; resolves with its seq. */
  writeSegment(name: string, data: Uint8Array | string | AsyncIterable<Uint8Array>, seq = -1): Promise<number> {
    return writeWholeSegment(this, name, data, seq);
  }

  /** A sequential in-process publisher for one channel (seqs counted from the channel's write head). */
  localPublisher(name: string): LocalPublisher {
    return new LocalPublisher(this, name);
  }

  /** In-process subscription with the same semantics as `GET B/{channel}/{seq}`. */
  subscribe(name: string, opts: { start?: number } = {}): LocalSubscriber {
    return new LocalSubscriber(this, name, opts.start ?? -1);
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
      const ch = this.getChannel(channel);
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
    if (!this.hasChannel(name) && !this.httpCreate && !this.autocreate) return this.notFound(req, res);
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

