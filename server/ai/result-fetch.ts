// Fetching a batch AI result from the orchestrator that made it, for re-hosting under
// Wharf (service.ts runs it after the answer). Small results come back as bytes, larger
// ones (declared so, or growing past `memoryItemBytes` without a length) as the response
// stream for the result store to write to disk.
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { Dispatcher } from "undici";
import { exchange, ExchangeTooLargeError } from "../../protocol/http-exchange.ts";
import { sniffContentType } from "../../protocol/ai/media-facts.ts";
import { ResultTooLargeError, type ResultSource } from "./results.ts";

export interface ResultFetchOptions {
  dispatcher: Dispatcher;
  /** Bounds each phase (headers, then every gap in the body). */
  timeoutMs: number;
  /** Results up to this size (or of unknown size or type) are read into memory. */
  memoryItemBytes: number;
  /** Largest result accepted. */
  maxItemBytes: number;
}

const knownType = (h: IncomingHttpHeaders): string => {
  const declared = String(h["content-type"] ?? "").split(";")[0]!.trim();
  return declared && declared !== "application/octet-stream" ? declared : "";
};

/** GET `url`: 3 tries for network errors and 5xx (100 ms, then 300 ms apart); a 4xx or a result too large is final. */
export async function fetchResult(url: URL, opts: ResultFetchOptions): Promise<ResultSource> {
  let last = "not tried";
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(100 * 3 ** (i - 1));
    try {
      const res = await exchange(opts.dispatcher, {
        origin: url.origin,
        path: url.pathname + url.search,
        method: "GET",
        timeoutMs: opts.timeoutMs,
        maxBytes: opts.maxItemBytes,
        // Large results go to disk as they arrive.
        streamIf: (status, h) => status === 200 && Number(h["content-length"] ?? NaN) > opts.memoryItemBytes,
        spillAbove: opts.memoryItemBytes,
      }).response;
      if ("stream" in res) {
        const known = knownType(res.headers);
        return known ? { stream: res.stream, contentType: known } : await sniffed(res.stream);
      }
      if (res.status !== 200) {
        last = `${url.pathname} answered ${res.status}`;
        if (res.status < 500) break;
        continue;
      }
      const known = knownType(res.headers);
      return { data: res.body, contentType: known || sniffContentType(res.body) };
    } catch (err) {
      if (err instanceof ExchangeTooLargeError) throw new ResultTooLargeError(err.message);
      last = (err as Error).message;
    }
  }
  throw new Error(last);
}

/** A stream whose type is told by its first bytes. */
async function sniffed(stream: Readable): Promise<ResultSource> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await it.next();
  const head = first.done ? Buffer.alloc(0) : first.value;
  async function* all(): AsyncGenerator<Uint8Array> {
    try {
      if (first.done) return;
      yield head;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    } finally {
      stream.destroy(); // a no-op once read to the end; else the exchange is aborted
    }
  }
  return { stream: all(), contentType: sniffContentType(head) };
}
