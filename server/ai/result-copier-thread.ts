// The result copier's thread (see result-copier.ts): GETs result URLs on orchestrators
// and hands the bytes back to the gateway (small results, transferred without a copy) or
// writes them straight into the result store's folder (large ones).
import { setTimeout as sleep } from "node:timers/promises";
import { parentPort, workerData } from "node:worker_threads";
import { request } from "undici";
import { orchestratorDispatcher } from "../../protocol/http-agent.ts";
import { sniffContentType } from "./media-facts.ts";
import { resultPath, writeLimited } from "./results.ts";
import type { CopierConfig, CopyReply, CopyRequest } from "./result-copier.ts";

const port = parentPort!;
const cfg = workerData as CopierConfig;
const dispatcher = orchestratorDispatcher();

/** 3 tries (network errors and 5xx; a 4xx is final), each phase bounded by timeoutMs. */
async function copy(job: CopyRequest): Promise<CopyReply> {
  let last = "not tried";
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(100 * 3 ** (i - 1));
    try {
      const res = await request(job.url, { method: "GET", dispatcher, headersTimeout: cfg.timeoutMs, bodyTimeout: cfg.timeoutMs });
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => {});
        last = `${new URL(job.url).pathname} answered ${res.statusCode}`;
        if (res.statusCode < 500) break;
        continue;
      }
      const declared = String(res.headers["content-type"] ?? "").split(";")[0]!.trim();
      const known = declared && declared !== "application/octet-stream" ? declared : "";
      const length = Number(res.headers["content-length"] ?? NaN);
      if (known && !(length <= cfg.memoryItemBytes)) {
        const fileSize = await writeLimited(res.body, resultPath(cfg.dir, job.id), cfg.maxItemBytes);
        return { id: job.id, ok: true, contentType: known, fileSize };
      }
      const data = new Uint8Array(await res.body.arrayBuffer());
      if (data.length > cfg.maxItemBytes) return { id: job.id, ok: false, error: `result of ${data.length} bytes exceeds ${cfg.maxItemBytes}` };
      return { id: job.id, ok: true, contentType: known || sniffContentType(Buffer.from(data.buffer, data.byteOffset, data.length)), data };
    } catch (err) {
      last = (err as Error).message;
    }
  }
  return { id: job.id, ok: false, error: last };
}

port.on("message", (job: CopyRequest) => {
  void copy(job).then((reply) => port.postMessage(reply, reply.ok && reply.data ? [reply.data.buffer as ArrayBuffer] : []));
});
