// An incoming request's body read into memory, up to a limit. Past the limit the bytes already
// kept are dropped and the rest is drained (not the connection closed), so the caller's 413
// reaches the client; the server's request timeout bounds a client that never stops sending.
import type { IncomingMessage } from "node:http";

export class RequestBodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request bodies are limited to ${limit} bytes`);
  }
}

/** The whole body, or RequestBodyTooLargeError past `maxBytes`; rejects if the client goes away first. */
export function readRequestBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  // Gone while the caller awaited something else (authentication): "close" will not come again.
  if (req.destroyed) return Promise.reject(new Error("the client went away before its body was read"));
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    // Events rather than an async iterator: cheaper per request.
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        cleanup();
        chunks = [];
        req.resume(); // drain
        reject(new RequestBodyTooLargeError(maxBytes));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error("the client went away before its body was read"));
    };
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}
