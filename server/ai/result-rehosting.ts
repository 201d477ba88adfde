// What Wharf answers for an orchestrator's batch AI result: the answer's shape checked per
// pipeline, and every media URL re-hosted under Wharf (data URIs stored at once; orchestrator
// URLs checked, answered as Wharf URLs, and copied right after the answer, off its path). A copy
// that fails for good penalises the orchestrator and refunds the request.
import type { Dispatcher } from "undici";
import { moduleLogger } from "../../core/log.ts";
import { sniffContentType } from "../../protocol/ai/media-facts.ts";
import type { PipelineSpec } from "../../protocol/ai/spec.ts";
import type { AiCandidate } from "./orchestrators.ts";
import type { ReservedResult, ResultStore } from "./results.ts";
import { fetchResult } from "./result-fetch.ts";

const log = moduleLogger("ai");

/** The orchestrator answered something unusable: the next orchestrator is tried, with a penalty. */
export class OrchestratorFault extends Error {}

/** A result URL answered to the client whose bytes are still on the orchestrator. */
export interface PendingCopy {
  reserved: ReservedResult;
  target: URL;
}

export interface ResultRehostingOptions {
  publicUrl(): string;
  results: ResultStore;
  allowForeignResultUrls?: boolean;
  dispatcher: Dispatcher;
  timeoutMs: number;
  refund?(requestId: string, reason: string): Promise<void>;
  reportFailure(address: string, reason: string, requestId: string): void;
}

export class ResultRehosting {
  constructor(private readonly o: ResultRehostingOptions) {}

  /** Origin and path of a service URL (cached: the same few orchestrators answer every request). */
  private readonly targets = new Map<string, { origin: string; host: string; basePath: string }>();
  target(serviceUrl: string): { origin: string; host: string; basePath: string } {
    let t = this.targets.get(serviceUrl);
    if (t === undefined) {
      const u = new URL(serviceUrl);
      t = { origin: u.origin, host: u.host, basePath: u.pathname.replace(/\/+$/, "") };
      if (this.targets.size > 10_000) this.targets.clear();
      this.targets.set(serviceUrl, t);
    }
    return t;
  }

  /** Check the answer's shape and re-host every media URL under Wharf. */
  async finish(spec: PipelineSpec, j: Record<string, unknown>, cand: AiCandidate, copies: PendingCopy[]): Promise<Record<string, unknown>> {
    switch (spec.result) {
      case "images":
      case "video": {
        const images = j.images;
        if (!Array.isArray(images) || images.length === 0) throw new OrchestratorFault("answer has no images");
        const out = await Promise.all(
          images.map(async (im: { url?: unknown; seed?: unknown; nsfw?: unknown }) => {
            if (!im || typeof im.url !== "string") throw new OrchestratorFault("an image has no url");
            return {
              url: await this.rehost(im.url, cand, copies),
              seed: typeof im.seed === "number" && Number.isFinite(im.seed) ? Math.trunc(im.seed) : 0,
              nsfw: im.nsfw === true,
            };
          }),
        );
        return { images: out };
      }
      case "audio": {
        const a = j.audio as { url?: unknown } | undefined;
        if (!a || typeof a.url !== "string") throw new OrchestratorFault("answer has no audio.url");
        return { audio: { url: await this.rehost(a.url, cand, copies) } };
      }
      case "text":
        if (typeof j.text !== "string") throw new OrchestratorFault("answer has no text");
        return { text: j.text };
      case "chunks":
        if (typeof j.text !== "string") throw new OrchestratorFault("answer has no text");
        return { text: j.text, chunks: Array.isArray(j.chunks) ? j.chunks : [] };
      case "masks":
        for (const k of ["masks", "scores", "logits"]) if (typeof j[k] !== "string") throw new OrchestratorFault(`answer has no ${k}`);
        return { masks: j.masks, scores: j.scores, logits: j.logits };
      case "llm":
        if (!Array.isArray(j.choices)) throw new OrchestratorFault("answer has no choices");
        return j;
    }
  }

  /** A Wharf URL for a result: data URIs are stored now, orchestrator URLs are checked and queued for copying. */
  private async rehost(url: string, cand: AiCandidate, copies: PendingCopy[]): Promise<string> {
    const base = this.o.publicUrl().replace(/\/+$/, "");
    if (url.startsWith("data:")) {
      const comma = url.indexOf(",");
      if (comma < 0) throw new OrchestratorFault("malformed data URI");
      const meta = url.slice(5, comma);
      const isB64 = /;base64$/i.test(meta);
      const data = isB64 ? Buffer.from(url.slice(comma + 1), "base64") : Buffer.from(decodeURIComponent(url.slice(comma + 1)), "utf8");
      const declared = meta.replace(/;base64$/i, "").split(";")[0]!.trim();
      const stored = await this.o.results.putBuffer(data, declared && declared !== "application/octet-stream" ? declared : sniffContentType(data));
      return `${base}/v1/results/${stored.id}`;
    }
    let target: URL;
    try {
      target = new URL(url, `${cand.serviceUrl.replace(/\/+$/, "")}/`);
    } catch {
      throw new OrchestratorFault(`unusable result URL "${url.slice(0, 200)}"`);
    }
    if (target.protocol !== "http:" && target.protocol !== "https:") throw new OrchestratorFault(`unsupported result URL scheme ${target.protocol}`);
    const svc = this.target(cand.serviceUrl);
    if (!this.o.allowForeignResultUrls && target.host !== svc.host) {
      throw new OrchestratorFault(`result URL ${target.origin} is not on the orchestrator (${svc.origin})`);
    }
    const reserved = this.o.results.reserve();
    copies.push({ reserved, target });
    return `${base}/v1/results/${reserved.id}`;
  }

  /** Copies a request's results in the background; on failure: penalty, 502 for the URL, refund. */
  deliver(copies: PendingCopy[], cand: AiCandidate, requestId: string): void {
    const { memoryItemBytes, maxItemBytes } = this.o.results;
    const fetchOpts = { dispatcher: this.o.dispatcher, timeoutMs: this.o.timeoutMs, memoryItemBytes, maxItemBytes };
    // The message a GET of the result answers with (502) when the copy failed.
    const refunded = this.o.refund ? "; the request was not billed" : "";
    const copy = (target: URL) => () =>
      fetchResult(target, fetchOpts).catch((err: Error) => {
        throw new Error(`${err.message}${refunded}`);
      });
    // Started on the next turn of the event loop: the answer, sent in this one, goes out
    // before the copy's request to the orchestrator.
    const started = new Promise<void>((resolve) => setImmediate(resolve));
    void Promise.all(copies.map((c) => started.then(() => c.reserved.fill(copy(c.target))))).then(async (ok) => {
      if (ok.every(Boolean)) return;
      const reason = `result could not be copied from ${cand.address}`;
      log.warn({ requestId, orchestrator: cand.address }, reason);
      this.o.reportFailure(cand.address, reason, requestId);
      try {
        await this.o.refund?.(requestId, reason);
      } catch (err) {
        log.error({ requestId, err: (err as Error).message }, "refunding an undelivered AI result failed");
      }
    });
  }
}
