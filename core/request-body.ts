// An incoming request's body read into memory, up to a limit. Past the limit the bytes already
// kept are dropped and the rest is drained (not the connection closed), so the caller's 413
// reaches the client; the server's request timeout bounds a client that never stops sending.
import type { IncomingMessage } from "node:http";

export class RequestBodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request bodies are limited to ${limit} bytes`);
  }
}

/** A read in progress, kept on its request: the listeners below are shared by every read. */
interface BodyRead {
  chunks: Buffer[];
  size: number;
  maxBytes: number;
  resolve: (body: Buffer) => void;
  reject: (err: Error) => void;
}
const READ = Symbol("wharf.requestBody");
type Reading = IncomingMessage & { [READ]?: BodyRead };

// Module-level listeners, called with the request as `this`: a read adds no closure per request,
// and listens to "close" only (a request that fails is destroyed, and "close" follows its
// "error"). On the single-shot apps path (thousands a second) the four closures and four listener
// pairs per request were a visible share of the gateway's CPU and garbage.
function onData(this: Reading, c: Buffer): void {
  const r = this[READ]!;
  r.size += c.length;
  if (r.size > r.maxBytes) {
    finish(this);
    this.resume(); // drain
    r.reject(new RequestBodyTooLargeError(r.maxBytes));
    return;
  }
  r.chunks.push(c);
}
function onEnd(this: Reading): void {
  const r = finish(this);
  r.resolve(r.chunks.length === 1 ? r.chunks[0]! : Buffer.concat(r.chunks, r.size));
}
function onClose(this: Reading): void {
  finish(this).reject(new Error("the client went away before its body was read"));
}
function finish(req: Reading): BodyRead {
  const r = req[READ]!;
  req[READ] = undefined;
  req.off("data", onData);
  req.off("end", onEnd);
  req.off("close", onClose);
  return r;
}

/** The whole body, or RequestBodyTooLargeError past `maxBytes`; rejects if the client goes away first. */
export function readRequestBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  // Gone while the caller awaited something else (authentication): "close" will not come again.
  if (req.destroyed) return Promise.reject(new Error("the client went away before its body was read"));
  const reading = req as Reading;
  if (reading[READ]) return Promise.reject(new Error("the request body is being read already"));
  return new Promise((resolve, reject) => {
    reading[READ] = { chunks: [], size: 0, maxBytes, resolve, reject };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("close", onClose);
  });
}
