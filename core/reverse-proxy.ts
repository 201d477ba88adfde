// A byte-streaming reverse proxy for one HTTP exchange or one upgraded (WebSocket) connection:
// the request's bytes go upstream as they arrive and the answer's bytes come back as they are
// written (SSE events are not held), hop-by-hop headers are dropped, and the caller learns whether
// anything was sent back, so a request that failed before its first byte can be tried elsewhere.
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import https from "node:https";
import type { Duplex, Readable } from "node:stream";

/** RFC 9110 7.6.1 hop-by-hop headers, plus the ones a proxy recomputes. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host", "proxy-connection"]);

/** A not-relayed answer's body is its reason (or a 402's payment parameters, a few KB): kept up to this. */
export const MAX_NOT_RELAYED_BODY_BYTES = 256 * 1024;
/** ProxyTarget.headTimeoutMs when a target sets none. */
export const DEFAULT_HEAD_TIMEOUT_MS = 30_000;
/** The reason of a target given up for its silence. */
export const noAnswerReason = (target: ProxyTarget, ms: number): string => `no answer from ${target.url.host} in ${ms} ms`;

const keepAliveHttp = new http.Agent({ keepAlive: true, maxSockets: 256 });
// Orchestrators and runners on a laptop use self-signed certificates (see protocol/http-agent.ts).
const keepAliveHttps = new https.Agent({ keepAlive: true, maxSockets: 256, rejectUnauthorized: false });

export interface ProxyTarget {
  /** Absolute URL of the upstream resource (path and query included). */
  url: URL;
  /** Headers to add or replace; `undefined` values remove the header. */
  headers?: Record<string, string | undefined>;
  /**
   * Give up connecting and waiting for an answer to relay after this long: its head, or the end of
   * an answer that is not relayed (an upstream that sends a 503 head and never ends it does not hold
   * the request). Default DEFAULT_HEAD_TIMEOUT_MS (30 s).
   */
  headTimeoutMs?: number;
  /** An answer with this status is not relayed (the caller retries elsewhere): outcome `answered: false`. */
  notRelayed?: (status: number) => boolean;
}

export interface ProxyOutcome {
  /** The upstream status, 0 when no answer came. */
  status: number;
  /** Whether any of the answer (head included) was written to the client. */
  answered: boolean;
  bytesOut: number;
  /** Why the exchange failed (connect error, timeout, reset), when it did. */
  error?: string;
}

/** Connection header values that name no header beyond the hop-by-hop ones (nearly every request's). */
const PLAIN_CONNECTION = new Set(["keep-alive", "close", "Keep-Alive", "Close", "upgrade", "Upgrade"]);

/**
 * The request's end-to-end headers, as forwarded upstream: hop-by-hop ones and those the
 * Connection header names dropped, `extra` added or (undefined) removed, `omit` left out.
 */
export function forwardHeaders(headers: IncomingHttpHeaders, extra: Readonly<Record<string, string | undefined>> = {}, omit?: ReadonlySet<string>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  // for...in, not Object.entries: no array per header on the single-shot apps path (thousands a second).
  const connection = headers.connection;
  const connectionTokens = connection === undefined || PLAIN_CONNECTION.has(connection) ? undefined : String(connection).toLowerCase().split(",").map((t) => t.trim());
  for (const k in headers) {
    const v = headers[k];
    // A header `extra` names (lower case) is replaced or removed below: skipped rather than
    // deleted, which would turn `out` into a slow dictionary-mode object for everyone reading it.
    if (v === undefined || HOP_BY_HOP.has(k) || omit?.has(k) || connectionTokens?.includes(k) || Object.hasOwn(extra, k)) continue;
    out[k] = v;
  }
  for (const k in extra) {
    const v = extra[k];
    const lower = k.toLowerCase();
    if (v !== undefined) out[lower] = v;
    else if (lower !== k) delete out[lower];
  }
  return out;
}

/** The answer's end-to-end headers, as relayed to the client. */
export function answerHeaders(headers: IncomingHttpHeaders, res?: ServerResponse): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const k in headers) {
    const v = headers[k];
    if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  }
  // The answer's headers replace those set on `res` before the relay, except Vary, which names
  // what both vary on (a gateway's CORS echo of Origin next to the upstream's Accept-Encoding).
  const preset = res?.getHeader("vary");
  if (preset !== undefined && out.vary !== undefined) out.vary = `${String(preset)}, ${String(out.vary)}`;
  return out;
}

/**
 * Proxy one exchange. `body` is the client's request stream (or a buffered copy, for a request
 * that may be retried). The client's response is left untouched when the upstream fails before
 * answering (`answered: false`), so the caller can try another upstream or write an error.
 */
export function proxyHttp(method: string, headers: IncomingHttpHeaders, body: Readable | Buffer | undefined, res: ServerResponse, target: ProxyTarget): Promise<ProxyOutcome> {
  return new Promise((resolve) => {
    // A client that left before the relay began closed the response already: its "close" is not
    // coming again, and writes to it would wait for a drain that never comes.
    if (res.destroyed) return resolve({ status: 0, answered: false, bytesOut: 0, error: "client went away" });
    // An answer's head and body go out in separate writes when it is streamed: with Nagle on the
    // client's socket (e.g. a server that got it from a protocol-sniffing net.Server, which skips
    // http.Server's noDelay) the body waits for the client's delayed ACK, ~40 ms per request.
    res.socket?.setNoDelay(true);
    const secure = target.url.protocol === "https:";
    const fwd = forwardHeaders(headers, target.headers);
    if (Buffer.isBuffer(body)) {
      delete fwd["content-length"];
      if (body.length > 0 || !["GET", "HEAD"].includes(method)) fwd["content-length"] = String(body.length);
    }
    let settled = false;
    let bytesOut = 0;
    const done = (o: Omit<ProxyOutcome, "bytesOut">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...o, bytesOut });
    };
    const up = (secure ? https : http).request(target.url, { method, headers: fwd, agent: secure ? keepAliveHttps : keepAliveHttp });
    const waitMs = target.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS;
    const timer = setTimeout(() => {
      const reason = noAnswerReason(target, waitMs);
      up.destroy(new Error(reason));
      done({ status: 0, answered: false, error: reason });
    }, waitMs);
    up.on("error", (err) => {
      if (!res.headersSent) return done({ status: 0, answered: false, error: err.message });
      res.destroy(err);
      done({ status: res.statusCode, answered: true, error: err.message });
    });
    up.on("response", (upRes: IncomingMessage) => {
      if (target.notRelayed?.(upRes.statusCode ?? 502)) {
        // The body is the reason (or a 402's payment parameters, a few KB): kept up to 256 KB.
        const chunks: Buffer[] = [];
        let kept = 0;
        upRes.on("data", (c: Buffer) => {
          if (kept + c.length <= MAX_NOT_RELAYED_BODY_BYTES) chunks.push(c);
          kept += c.length;
        });
        upRes.on("end", () => done({ status: upRes.statusCode ?? 502, answered: false, error: Buffer.concat(chunks).toString("utf8") }));
        upRes.on("error", (err) => done({ status: upRes.statusCode ?? 502, answered: false, error: err.message }));
        return;
      }
      clearTimeout(timer); // relayed: a stream (SSE) may pause as long as it likes
      res.writeHead(upRes.statusCode ?? 502, answerHeaders(upRes.headers, res));
      // The head, the body that has already arrived and the end go out in one write: the socket is
      // corked until the end, or until the next turn of the event loop at the latest, so a streamed
      // answer (SSE, chunked) still gets its head and first bytes at once when they are seconds apart.
      // (A write per piece is a syscall each, the largest part of a small exchange's CPU.)
      let held = true;
      let wrote = false;
      res.cork();
      const release = () => {
        if (!held) return;
        held = false;
        clearImmediate(flush);
        if (!wrote && !res.writableEnded) res.flushHeaders();
        res.uncork();
      };
      const flush = setImmediate(release);
      upRes.on("data", (c: Buffer) => {
        bytesOut += c.length;
        wrote = true;
        if (!res.write(c)) {
          upRes.pause();
          res.once("drain", () => upRes.resume());
        }
      });
      upRes.on("end", () => {
        wrote = true;
        res.end();
        release();
        done({ status: upRes.statusCode ?? 502, answered: true });
      });
      upRes.on("error", (err) => {
        clearImmediate(flush);
        res.destroy(err);
        done({ status: upRes.statusCode ?? 502, answered: true, error: err.message });
      });
      res.on("close", () => {
        clearImmediate(flush);
        if (!upRes.complete) {
          upRes.destroy();
          done({ status: upRes.statusCode ?? 502, answered: true, error: "client went away" });
        }
      });
    });
    res.on("close", () => {
      if (!res.headersSent) {
        up.destroy();
        done({ status: 0, answered: false, error: "client went away" });
      }
    });
    if (body === undefined) up.end();
    else if (Buffer.isBuffer(body)) up.end(body);
    else body.pipe(up);
  });
}

/**
 * Proxy an upgrade request (WebSocket) to `target`: when the upstream switches protocols, its 101
 * head goes to the client and bytes are piped both ways until either side closes; any other answer
 * is relayed as is. Resolves with the upstream status (0: no answer).
 */
export function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ProxyTarget): Promise<ProxyOutcome> {
  return new Promise((resolve) => {
    const secure = target.url.protocol === "https:";
    const fwd = forwardHeaders(req.headers, target.headers);
    fwd.connection = "Upgrade";
    fwd.upgrade = req.headers.upgrade ?? "websocket";
    const up = (secure ? https : http).request(target.url, { method: req.method, headers: fwd, ...(secure ? { rejectUnauthorized: false } : {}) });
    let settled = false;
    const done = (o: ProxyOutcome) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(o);
      }
    };
    const waitMs = target.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS;
    const timer = setTimeout(() => up.destroy(new Error(noAnswerReason(target, waitMs))), waitMs);
    socket.on("error", () => up.destroy());
    // A client that leaves before the upstream answered takes the upstream request with it.
    const abandon = () => up.destroy(new Error("client went away"));
    socket.once("close", abandon);
    up.on("error", (err) => {
      if (!socket.destroyed) socket.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${JSON.stringify({ error: "upstream_unreachable", message: "the upstream did not answer" })}`);
      done({ status: 0, answered: false, bytesOut: 0, error: err.message });
    });
    up.on("response", (upRes) => {
      socket.off("close", abandon);
      const lines = [`HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage ?? ""}`];
      for (const [k, v] of Object.entries(answerHeaders(upRes.headers))) for (const x of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${x}`);
      socket.write(lines.join("\r\n") + "\r\nconnection: close\r\n\r\n");
      upRes.pipe(socket);
      done({ status: upRes.statusCode ?? 502, answered: true, bytesOut: 0 });
    });
    up.on("upgrade", (upRes, upSocket, upHead) => {
      socket.off("close", abandon);
      if (socket.destroyed) {
        upSocket.destroy();
        return done({ status: 0, answered: false, bytesOut: 0, error: "client went away" });
      }
      const lines = [`HTTP/1.1 101 Switching Protocols`];
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) lines.push(`${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}`);
      socket.write(lines.join("\r\n") + "\r\n\r\n");
      if (upHead.length) socket.write(upHead);
      if (head.length) upSocket.write(head);
      upSocket.setNoDelay(true);
      if ("setNoDelay" in socket && typeof (socket as { setNoDelay?: unknown }).setNoDelay === "function") (socket as unknown as { setNoDelay(v: boolean): void }).setNoDelay(true);
      upSocket.pipe(socket);
      socket.pipe(upSocket);
      const close = () => {
        upSocket.destroy();
        socket.destroy();
      };
      upSocket.on("error", close);
      upSocket.on("close", close);
      socket.on("close", close);
      done({ status: 101, answered: true, bytesOut: 0 });
    });
    up.end();
  });
}
