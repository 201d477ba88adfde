// Trickle subscriber: follows `GET {url}/{seq}` segment by segment, each delivered as a readable
// stream while the publisher is still writing it.
//
//   const sub = new TrickleSubscriber(subscribeUrl, { start: -1 });
//   for await (const seg of sub) {            // ends on Lp-Trickle-Closed; throws TrickleError
//     for await (const chunk of seg.body) ... // bytes as they arrive
//   }
//
// Preconnect: as soon as the headers of seq n arrive, `GET n+1` is opened (the server holds it
// until n+1 starts). 470 = that seq is gone or too far ahead: jump to `Lp-Trickle-Latest`.
// 404 is terminal. Network failures are retried (default 5 x 300 ms), then the subscriber gives up.

import { EventEmitter } from "node:events";
import type http from "node:http";
import type { Readable } from "node:stream";
import { moduleLogger, type Logger } from "../../core/log.ts";
import { readBounded } from "../bounded-body.ts";
import { TrickleError } from "./errors.ts";
import {
  childUrl,
  headerInt,
  headerStr,
  makeAgent,
  openRequest,
  parseBaseUrl,
  sleep,
  type AgentHandle,
  type TrickleClientOptions,
} from "./http-client.ts";
import { untilNull } from "./iterate.ts";

export interface TrickleSubscriberOptions extends TrickleClientOptions {
  /** First seq: -1 = the next segment to be written (live edge), -2 = the one being written now. Default -1. */
  start?: number;
  /** Consecutive failed attempts (network errors, unexpected statuses) before giving up. Default 5. */
  retries?: number;
  /** Wait between attempts. Default 300 ms. */
  retryDelayMs?: number;
  /** Open the GET for n+1 as soon as n starts. Default true. */
  preconnect?: boolean;
  logger?: Logger;
}

/** One segment: `body` streams its bytes as the server relays them. */
export interface TrickleSegment {
  seq: number;
  /** The server's next write index when it is ahead of `seq` (the subscriber is behind). */
  latest: number | undefined;
  contentType: string | undefined;
  body: Readable;
  /** The whole segment; past `maxBytes` (if given) the segment is dropped and this rejects. */
  buffer(maxBytes?: number): Promise<Buffer>;
  text(maxBytes?: number): Promise<string>;
  json<T = unknown>(): Promise<T>;
}

export interface TrickleSubscriberEvents {
  segment: [seg: TrickleSegment];
  /** Jumped forward because `from` was gone or too far ahead (470). */
  skip: [info: { from: number; to: number }];
  /** End of stream (`Lp-Trickle-Closed`). */
  end: [];
  /** Emitted only when someone listens; iteration/next() reject with the same error. */
  error: [err: TrickleError];
}

type FetchResult =
  | { kind: "segment"; segment: TrickleSegment }
  | { kind: "jump"; requested: number; seq: number; latest: number }
  | { kind: "end" }
  | { kind: "error"; error: TrickleError };

export class TrickleSubscriber extends EventEmitter<TrickleSubscriberEvents> implements AsyncIterable<TrickleSegment> {
  readonly url: URL;
  private readonly agentHandle: AgentHandle;
  private readonly extraHeaders: Record<string, string>;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly preconnectEnabled: boolean;
  private readonly log: Logger;
  private seq: number;
  private pending: { seq: number; result: Promise<FetchResult> } | undefined;
  private readonly inflight = new Set<http.ClientRequest>();
  private finished: { kind: "end" } | { kind: "error"; error: TrickleError } | undefined;
  private isClosed = false;
  private busy = false;

  constructor(url: string, opts: TrickleSubscriberOptions = {}) {
    super();
    this.url = parseBaseUrl(url);
    this.agentHandle = makeAgent(this.url, opts);
    this.extraHeaders = opts.headers ?? {};
    this.retries = Math.max(1, opts.retries ?? 5);
    this.retryDelayMs = opts.retryDelayMs ?? 300;
    this.preconnectEnabled = opts.preconnect ?? true;
    this.log = opts.logger ?? moduleLogger("trickle-subscriber");
    this.seq = opts.start ?? -1;
  }

  /** The seq the subscriber asks for next. */
  get nextSeq(): number {
    return this.seq;
  }

  get ended(): boolean {
    return this.finished !== undefined || this.isClosed;
  }

  /**
   * The next segment, as soon as its first byte is available; null at end of stream or after
   * close(). Rejects with a TrickleError (not-found / network / status) when the subscriber gives up.
   */
  async next(): Promise<TrickleSegment | null> {
    if (this.busy) throw new Error("TrickleSubscriber.next() called concurrently");
    this.busy = true;
    try {
      for (;;) {
        if (this.isClosed) return null;
        if (this.finished) {
          if (this.finished.kind === "end") return null;
          throw this.finished.error;
        }
        const want = this.seq;
        const p = this.pending && this.pending.seq === want ? this.pending : { seq: want, result: this.fetch(want) };
        this.pending = undefined;
        const r = await p.result;
        if (this.isClosed) {
          if (r.kind === "segment") r.segment.body.destroy();
          return null;
        }
        switch (r.kind) {
          case "segment": {
            this.seq = r.segment.seq + 1;
            if (this.preconnectEnabled) this.pending = { seq: this.seq, result: this.fetch(this.seq) };
            this.emit("segment", r.segment);
            return r.segment;
          }
          case "jump": {
            // 470: gone (fell out of the ring) or too far ahead. Go to the live edge; if the edge is not
            // past what we asked for (a dropped segment at the head), give the publisher a moment.
            const to = r.latest;
            if (to !== r.seq) this.emit("skip", { from: r.seq, to });
            else await sleep(Math.min(this.retryDelayMs, 100));
            this.seq = to;
            continue;
          }
          case "end":
            this.finished = { kind: "end" };
            this.emit("end");
            return null;
          case "error":
            this.finished = { kind: "error", error: r.error };
            if (this.listenerCount("error") > 0) this.emit("error", r.error);
            throw r.error;
        }
      }
    } finally {
      this.busy = false;
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<TrickleSegment> {
    return untilNull(() => this.next(), () => {
      if (!this.finished) this.close();
    });
  }

  /** Stops: aborts pending requests (including the preconnect) and frees the agent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const req of this.inflight) req.destroy();
    this.inflight.clear();
    this.pending = undefined;
    // Also ends segment bodies still being read.
    if (this.agentHandle.owned) this.agentHandle.agent.destroy();
  }

  /** GET one seq with retries; resolves when its headers arrive (i.e. when the segment started). */
  private async fetch(seq: number): Promise<FetchResult> {
    let lastError: TrickleError | undefined;
    for (let attempt = 1; attempt <= this.retries; attempt++) {
      if (this.isClosed) return { kind: "end" };
      const r = await this.fetchOnce(seq);
      if (r.kind !== "retry") return r;
      lastError = r.error;
      this.log.debug({ url: this.url.href, seq, attempt, msg: r.error.message }, "trickle GET failed, retrying");
      if (attempt < this.retries) await sleep(this.retryDelayMs);
    }
    const e = lastError!;
    return {
      kind: "error",
      error: new TrickleError(e.kind, `${e.message} (gave up after ${this.retries} attempts)`, {
        terminal: true,
        seq,
        url: this.url.href,
        ...(e.status !== undefined ? { status: e.status } : {}),
        cause: e,
      }),
    };
  }

  private fetchOnce(seq: number): Promise<FetchResult | { kind: "retry"; error: TrickleError }> {
    return new Promise((resolve) => {
      const url = childUrl(this.url, seq);
      const req = openRequest(url, "GET", this.agentHandle.agent, this.extraHeaders);
      this.inflight.add(req);
      let settled = false;
      const settle = (r: FetchResult | { kind: "retry"; error: TrickleError }) => {
        if (settled) return;
        settled = true;
        resolve(r);
      };
      req.on("error", (err) => {
        this.inflight.delete(req);
        if (this.isClosed) return settle({ kind: "end" });
        settle({ kind: "retry", error: new TrickleError("network", `GET ${url.href}: ${err.message}`, { seq, url: url.href, cause: err, terminal: false }) });
      });
      req.on("close", () => {
        this.inflight.delete(req);
        if (!settled) {
          if (this.isClosed) return settle({ kind: "end" });
          settle({ kind: "retry", error: new TrickleError("network", `GET ${url.href}: connection closed`, { seq, url: url.href, terminal: false }) });
        }
      });
      req.on("response", (res) => {
        const status = res.statusCode ?? 0;
        const closed = headerStr(res.headers, "Lp-Trickle-Closed") !== undefined;
        if (status === 200 && !closed) {
          const served = headerInt(res.headers, "Lp-Trickle-Seq") ?? (seq >= 0 ? seq : undefined);
          if (served === undefined) {
            res.resume();
            return settle({ kind: "retry", error: new TrickleError("status", `GET ${url.href}: 200 without Lp-Trickle-Seq`, { seq, status, terminal: false }) });
          }
          res.on("error", () => {}); // surfaced to the consumer via 'aborted'/'close' on the body
          return settle({ kind: "segment", segment: makeSegment(served, headerInt(res.headers, "Lp-Trickle-Latest"), headerStr(res.headers, "content-type"), res) });
        }
        res.resume();
        if (status === 200 && closed) return settle({ kind: "end" });
        if (status === 404) {
          return settle({ kind: "error", error: new TrickleError("not-found", `GET ${url.href}: channel not found (404)`, { status, seq, url: url.href }) });
        }
        if (status === 470) {
          const latest = headerInt(res.headers, "Lp-Trickle-Latest");
          const served = headerInt(res.headers, "Lp-Trickle-Seq") ?? seq;
          if (closed) return settle({ kind: "end" });
          if (latest !== undefined) return settle({ kind: "jump", requested: seq, seq: served, latest });
          return settle({ kind: "jump", requested: seq, seq: served, latest: -1 });
        }
        settle({ kind: "retry", error: new TrickleError("status", `GET ${url.href}: HTTP ${status}`, { status, seq, url: url.href, terminal: false }) });
      });
      req.end();
    });
  }
}

function makeSegment(seq: number, latest: number | undefined, contentType: string | undefined, body: Readable): TrickleSegment {
  const buffer = (maxBytes = Infinity) => readBounded(body, maxBytes, `trickle segment ${seq}`);
  return {
    seq,
    latest: latest !== undefined && latest !== seq ? latest : undefined,
    contentType,
    body,
    buffer,
    text: async (maxBytes?: number) => (await buffer(maxBytes)).toString("utf8"),
    json: async <T>() => JSON.parse((await buffer()).toString("utf8")) as T,
  };
}
