// Copies batch AI results from orchestrators into Wharf's result store, after the
// answer (see service.ts): small results come back as bytes, larger ones are streamed
// into the store's folder. (Tried on a worker thread too: on a 2-core machine the
// thread hand-offs cost more than the GETs, 0.64-0.71 vs 0.42-0.45 ms of CPU per
// request, so copies run on the event loop, off the request's path.)
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import { orchestratorDispatcher } from "../../protocol/http-agent.ts";
import { sniffContentType } from "./media-facts.ts";
import { ResultTooLargeError, resultPath, writeLimited, type ResultSource } from "./results.ts";

export interface CopierConfig {
  /** The result store's folder (large results are written there as `<id>`). */
  dir: string;
  timeoutMs: number;
  maxItemBytes: number;
  /** Results up to this size come back as bytes. */
  memoryItemBytes: number;
}
/** GET `url` into result `id`: 3 tries (network errors and 5xx; a 4xx or too large is final), each phase bounded by timeoutMs. */
export async function copyResult(cfg: CopierConfig, id: string, url: string): Promise<ResultSource> {
  const dispatcher = orchestratorDispatcher();
  let last = "not tried";
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(100 * 3 ** (i - 1));
    try {
      const res = await request(url, { method: "GET", dispatcher, headersTimeout: cfg.timeoutMs, bodyTimeout: cfg.timeoutMs });
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => {});
        last = `${new URL(url).pathname} answered ${res.statusCode}`;
        if (res.statusCode < 500) break;
        continue;
      }
      const declared = String(res.headers["content-type"] ?? "").split(";")[0]!.trim();
      const known = declared && declared !== "application/octet-stream" ? declared : "";
      const length = Number(res.headers["content-length"] ?? NaN);
      if (known && !(length <= cfg.memoryItemBytes)) {
        const fileSize = await writeLimited(res.body, resultPath(cfg.dir, id), cfg.maxItemBytes);
        return { contentType: known, fileSize };
      }
      const data = Buffer.from(await res.body.arrayBuffer());
      if (data.length > cfg.maxItemBytes) throw new ResultTooLargeError(`result of ${data.length} bytes exceeds ${cfg.maxItemBytes}`);
      return { contentType: known || sniffContentType(data), data };
    } catch (err) {
      last = (err as Error).message;
      if (err instanceof ResultTooLargeError) break;
    }
  }
  throw new Error(last);
}

export class ResultCopier {
  constructor(private readonly cfg: CopierConfig) {}

  /** Copies `url` for result `id`: resolves with where the bytes are, rejects with why not. */
  copy(id: string, url: string): Promise<ResultSource> {
    return copyResult(this.cfg, id, url);
  }
}
