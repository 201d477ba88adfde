// Fetching a batch AI result from the orchestrator that made it, for re-hosting under
// Wharf (service.ts runs it after the answer). Small results come back as bytes, larger
// ones as the response stream for the result store to write to disk.
import { setTimeout as sleep } from "node:timers/promises";
import { request, type Dispatcher } from "undici";
import { sniffContentType } from "./media-facts.ts";
import type { ResultSource } from "./results.ts";

export interface ResultFetchOptions {
  dispatcher: Dispatcher;
  /** Bounds each phase (headers, then every gap in the body). */
  timeoutMs: number;
  /** Results up to this size (or of unknown size or type) are read into memory. */
  memoryItemBytes: number;
}

/** GET `url`: 3 tries for network errors and 5xx (100 ms, then 300 ms apart); a 4xx is final. */
export async function fetchResult(url: URL, opts: ResultFetchOptions): Promise<ResultSource> {
  let last = "not tried";
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(100 * 3 ** (i - 1));
    try {
      const res = await request(url, { method: "GET", dispatcher: opts.dispatcher, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => {});
        last = `${url.pathname} answered ${res.statusCode}`;
        if (res.statusCode < 500) break;
        continue;
      }
      const declared = String(res.headers["content-type"] ?? "").split(";")[0]!.trim();
      const known = declared && declared !== "application/octet-stream" ? declared : "";
      const length = Number(res.headers["content-length"] ?? NaN);
      if (known && !(length <= opts.memoryItemBytes)) return { stream: res.body, contentType: known };
      const data = Buffer.from(await res.body.arrayBuffer());
      return { data, contentType: known || sniffContentType(data) };
    } catch (err) {
      last = (err as Error).message;
    }
  }
  throw new Error(last);
}
