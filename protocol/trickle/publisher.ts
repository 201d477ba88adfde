// Trickle publisher: streams numbered segments to `POST {url}/{seq}` as they are produced.
//
//   const pub = new TricklePublisher(publishUrl, { contentType: "video/MP2T" });
//   pub.on("error", (e: TrickleError) => ...);       // e.kind: not-found | closed | network | status
//   const seg = await pub.next();                     // seq 0; seq 1 is preconnected now
//   await seg.write(bytes); ...; await seg.end();     // bytes leave as they are written
//   await pipeline(ffmpegSegmentStream, (await pub.next()).toWritable());
//   await pub.close();                                // DELETE the channel
//
// Preconnect: when segment n is opened, the POST for n+1 is sent with headers only, so there is
// no request latency between segments. A segment is retried (a new POST for the same seq) only
// if none of its bytes were sent. 404 (channel unknown) and `Lp-Trickle-Closed` are terminal.

import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import { moduleLogger, type Logger } from "../../core/log.ts";
import { TrickleError } from "./errors.ts";
import {
  childUrl,
  headerInt,
  headerStr,
  makeAgent,
  parseBaseUrl,
  simpleRequest,
  sleep,
  type AgentHandle,
  type TrickleClientOptions,
} from "./http-client.ts";
import { PendingPost } from "./pending-post.ts";

export interface TricklePublisherOptions extends TrickleClientOptions {
  /** Content-Type of the segments. Default `video/MP2T`. */
  contentType?: string;
  /** First seq. Default 0. */
  start?: number;
  /** Send `Lp-Trickle-Reset` on the first segment (a publisher restarting on an existing channel). Default false. */
  reset?: boolean;
  /** Open the POST for n+1 while n is in flight. Default true. */
  preconnect?: boolean;
  /** POST attempts per segment while no byte has been sent. Default 3. */
  maxAttempts?: number;
  /** Wait between those attempts. Default 100 ms. */
  retryDelayMs?: number;
  logger?: Logger;
}

export interface TricklePublisherEvents {
  /** Emitted only when someone listens (an unlistened 'error' would crash the process); writes/ends reject as well. */
  error: [err: TrickleError];
  /** A segment was accepted by the server (200). */
  segment: [info: { seq: number; bytes: number }];
  close: [];
}

export class TricklePublisher extends EventEmitter<TricklePublisherEvents> {
  readonly url: URL;
  readonly contentType: string;
  private readonly agentHandle: AgentHandle;
  private readonly extraHeaders: Record<string, string>;
  private readonly preconnectEnabled: boolean;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly log: Logger;
  private seq: number;
  private sendReset: boolean;
  private pending: PendingPost | undefined;
  private terminal: TrickleError | undefined;
  private isClosed = false;
  private readonly writers = new Set<TrickleSegmentWriter>();

  constructor(url: string, opts: TricklePublisherOptions = {}) {
    super();
    this.url = parseBaseUrl(url);
    this.contentType = opts.contentType ?? "video/MP2T";
    this.agentHandle = makeAgent(this.url, opts);
    this.extraHeaders = opts.headers ?? {};
    this.preconnectEnabled = opts.preconnect ?? true;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 3);
    this.retryDelayMs = opts.retryDelayMs ?? 100;
    this.log = opts.logger ?? moduleLogger("trickle-publisher");
    this.seq = opts.start ?? 0;
    this.sendReset = opts.reset ?? false;
  }

  /** The seq the next call to next() opens. */
  get nextSeq(): number {
    return this.seq;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The terminal error, once the publisher gave up (channel gone/closed). */
  get error(): TrickleError | undefined {
    return this.terminal;
  }

  /** `POST {url}` with `Expect-Content`: asks the server to create the channel. */
  async create(mimeType = this.contentType): Promise<void> {
    const res = await simpleRequest(this.url, "POST", this.agentHandle.agent, { ...this.extraHeaders, "Expect-Content": mimeType }, "");
    if (res.status === 404) throw new TrickleError("not-found", `create ${this.url.href}: 404`, { status: 404, url: this.url.href });
    if (res.status !== 200) throw new TrickleError("status", `create ${this.url.href}: ${res.status} ${res.body}`, { status: res.status, url: this.url.href });
  }

  /** `GET {url}/next`: the server's next write index. */
  async serverNext(): Promise<number> {
    const res = await simpleRequest(childUrl(this.url, "next"), "GET", this.agentHandle.agent, this.extraHeaders);
    if (res.status === 404) throw new TrickleError("not-found", `next ${this.url.href}: 404`, { status: 404, url: this.url.href });
    const latest = headerInt(res.headers, "Lp-Trickle-Latest") ?? Number(res.body.trim());
    if (res.status !== 200 || !Number.isInteger(latest)) {
      throw new TrickleError("status", `next ${this.url.href}: ${res.status} ${res.body}`, { status: res.status, url: this.url.href });
    }
    return latest;
  }

  /** Continue from the server's write head (`GET next`), sending `Lp-Trickle-Reset` on the first segment. */
  async resumeFromServer(): Promise<number> {
    const n = await this.serverNext();
    this.pending?.abort();
    this.pending = undefined;
    this.seq = n;
    this.sendReset = true;
    return n;
  }

  /** Opens the next segment for writing (and preconnects the one after it). */
  async next(): Promise<TrickleSegmentWriter> {
    if (this.terminal) throw this.terminal;
    if (this.isClosed) throw new TrickleError("aborted", "publisher closed", { url: this.url.href });
    const seq = this.seq++;
    let post = this.pending && this.pending.seq === seq ? this.pending : undefined;
    if (!post) {
      this.pending?.abort();
      post = this.openPost(seq);
    }
    this.pending = this.preconnectEnabled ? this.openPost(seq + 1) : undefined;
    const w = new TrickleSegmentWriter(this, seq, post);
    this.writers.add(w);
    return w;
  }

  /** Writes one whole segment; resolves with its seq once the server accepted it. */
  async writeSegment(data: Uint8Array | string | AsyncIterable<Uint8Array | string>): Promise<number> {
    const w = await this.next();
    try {
      if (typeof data === "string" || data instanceof Uint8Array) await w.write(data);
      else for await (const chunk of data) await w.write(chunk);
      await w.end();
    } catch (err) {
      w.abort();
      throw err;
    }
    return w.seq;
  }

  /** Aborts pending requests and deletes the channel (`DELETE {url}`). Never throws. */
  async close(opts: { deleteChannel?: boolean } = {}): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.pending?.abort();
    this.pending = undefined;
    for (const w of this.writers) w.abort();
    if (opts.deleteChannel ?? true) {
      try {
        const res = await simpleRequest(this.url, "DELETE", this.agentHandle.agent, this.extraHeaders, undefined, 5_000);
        if (res.status !== 200 && res.status !== 404) this.log.debug({ url: this.url.href, status: res.status }, "trickle DELETE refused");
      } catch (err) {
        this.log.debug({ err, url: this.url.href }, "trickle DELETE failed");
      }
    }
    if (this.agentHandle.owned) this.agentHandle.agent.destroy();
    this.emit("close");
  }

  // ---- internals used by TrickleSegmentWriter ----------------------------------------

  /** @internal */
  openPost(seq: number): PendingPost {
    const headers: Record<string, string> = { ...this.extraHeaders, "Content-Type": this.contentType };
    if (this.sendReset) {
      headers["Lp-Trickle-Reset"] = "1";
      this.sendReset = false;
    }
    return new PendingPost(seq, childUrl(this.url, seq), this.agentHandle.agent, headers, (p) => this.onEarlyOutcome(p));
  }

  /** A POST ended before any byte was sent: 404 / closed channel are terminal right away. */
  private onEarlyOutcome(p: PendingPost): void {
    const o = p.outcome;
    if (!o || o.kind !== "response" || this.isClosed) return;
    if (o.status === 404) this.fail(new TrickleError("not-found", `channel ${this.url.href} not found (404)`, { status: 404, seq: p.seq, url: this.url.href }));
    else if (headerStr(o.headers, "Lp-Trickle-Closed")) this.fail(new TrickleError("closed", `channel ${this.url.href} closed`, { status: o.status, seq: p.seq, url: this.url.href }));
  }

  /** @internal */
  fail(err: TrickleError): void {
    if (err.terminal) {
      if (this.terminal) return;
      this.terminal = err;
      this.pending?.abort();
      this.pending = undefined;
    }
    this.log.debug({ kind: err.kind, seq: err.seq, url: this.url.href, msg: err.message }, "trickle publish error");
    if (this.listenerCount("error") > 0) this.emit("error", err);
  }

  /** @internal */
  terminalError(): TrickleError | undefined {
    return this.terminal;
  }

  /** @internal */
  attempts(): { max: number; delayMs: number } {
    return { max: this.maxAttempts, delayMs: this.retryDelayMs };
  }

  /** @internal */
  writerDone(w: TrickleSegmentWriter, bytes: number, ok: boolean): void {
    this.writers.delete(w);
    if (ok) this.emit("segment", { seq: w.seq, bytes });
  }
}

/** One segment being written. Bytes go on the wire as they are written (chunked). */
export class TrickleSegmentWriter {
  private post: PendingPost;
  private attempt = 1;
  private sent = 0;
  private state: "open" | "ending" | "done" | "failed" = "open";
  private failure: TrickleError | undefined;
  private endPromise: Promise<void> | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly publisher: TricklePublisher,
    readonly seq: number,
    post: PendingPost,
  ) {
    this.post = post;
  }

  /** Bytes handed to the transport so far. */
  get bytesWritten(): number {
    return this.sent;
  }

  /** Writes a chunk; resolves when the transport accepted it (backpressure), rejects with a TrickleError. */
  write(chunk: Uint8Array | string): Promise<void> {
    const run = this.chain.then(() => this.doWrite(chunk));
    this.chain = run.catch(() => {});
    return run;
  }

  /** Ends the segment; resolves when the server answered 200. */
  end(): Promise<void> {
    if (!this.endPromise) {
      const run = this.chain.then(() => this.doEnd());
      this.chain = run.catch(() => {});
      this.endPromise = run;
    }
    return this.endPromise;
  }

  /** Abandons the segment (the server closes it with the bytes received so far). */
  abort(): void {
    if (this.state === "done" || this.state === "failed") return;
    this.state = "failed";
    this.failure ??= new TrickleError("aborted", `segment ${this.seq} aborted`, { seq: this.seq, terminal: false });
    this.post.abort();
    this.publisher.writerDone(this, this.sent, false);
  }

  /** A node Writable over this segment, for `pipeline(source, seg.toWritable())`; finishing it ends the segment. */
  toWritable(): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.write(chunk).then(() => cb(), (err: Error) => cb(err));
      },
      final: (cb) => {
        this.end().then(() => cb(), (err: Error) => cb(err));
      },
      destroy: (err, cb) => {
        if (err) this.abort();
        cb(err);
      },
    });
  }

  private check(): void {
    if (this.failure) throw this.failure;
    const t = this.publisher.terminalError();
    if (t) throw t;
  }

  private failWith(err: TrickleError): never {
    if (this.state !== "failed") {
      this.state = "failed";
      this.failure = err;
      this.post.abort();
      this.publisher.writerDone(this, this.sent, false);
      this.publisher.fail(err);
    }
    throw this.failure ?? err;
  }

  /** Before the first byte: make sure the POST is alive, re-opening it if nothing was sent. */
  private async ensurePost(): Promise<void> {
    for (;;) {
      await this.post.connected;
      if (!this.post.dead) return;
      const o = this.post.outcome;
      if (o?.kind === "response") {
        if (o.status === 404) this.failWith(new TrickleError("not-found", `channel not found (404) at seq ${this.seq}`, { status: 404, seq: this.seq }));
        if (headerStr(o.headers, "Lp-Trickle-Closed")) this.failWith(new TrickleError("closed", `channel closed at seq ${this.seq}`, { status: o.status, seq: this.seq }));
      }
      const { max, delayMs } = this.publisher.attempts();
      if (this.attempt >= max) {
        const why = o?.kind === "error" ? o.error.message : o ? `status ${o.status}` : "request closed";
        this.failWith(new TrickleError(o?.kind === "response" ? "status" : "network", `segment ${this.seq}: ${why}`, {
          seq: this.seq,
          terminal: false,
          ...(o?.kind === "response" ? { status: o.status } : {}),
          ...(o?.kind === "error" ? { cause: o.error } : {}),
        }));
      }
      this.attempt++;
      if (o?.kind === "error") await sleep(delayMs);
      this.check();
      this.post = this.publisher.openPost(this.seq);
    }
  }

  private async doWrite(chunk: Uint8Array | string): Promise<void> {
    this.check();
    if (this.state !== "open") throw new TrickleError("status", `segment ${this.seq} already ended`, { seq: this.seq, terminal: false });
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (buf.length === 0) return;
    if (this.sent === 0) await this.ensurePost();
    else if (this.post.dead) await this.afterBytesFailure();
    const post = this.post;
    this.sent += buf.length;
    post.bytes += buf.length;
    const ok = post.req.write(buf);
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = () => {
          post.req.off("drain", done);
          post.req.off("close", done);
          resolve();
        };
        post.req.once("drain", done);
        post.req.once("close", done);
      });
    }
    if (post.dead) await this.afterBytesFailure();
  }

  /** The POST died after bytes were sent: no retry (the server has part of the segment). */
  private async afterBytesFailure(): Promise<never> {
    const o = this.post.outcome ?? (await Promise.race([this.post.done, sleep(50).then(() => undefined)]));
    if (o?.kind === "response") {
      if (o.status === 404) this.failWith(new TrickleError("not-found", `channel not found (404) at seq ${this.seq}`, { status: 404, seq: this.seq }));
      if (headerStr(o.headers, "Lp-Trickle-Closed")) this.failWith(new TrickleError("closed", `channel closed at seq ${this.seq}`, { status: o.status, seq: this.seq }));
      this.failWith(new TrickleError("status", `segment ${this.seq}: server answered ${o.status} before the end`, { status: o.status, seq: this.seq, terminal: false }));
    }
    const cause = o?.kind === "error" ? o.error : undefined;
    this.failWith(new TrickleError("network", `segment ${this.seq}: connection lost after ${this.sent} bytes${cause ? `: ${cause.message}` : ""}`, {
      seq: this.seq,
      terminal: false,
      ...(cause ? { cause } : {}),
    }));
  }

  private async doEnd(): Promise<void> {
    this.check();
    if (this.state !== "open") throw this.failure ?? new TrickleError("status", `segment ${this.seq} already ended`, { seq: this.seq, terminal: false });
    for (;;) {
      if (this.sent === 0) await this.ensurePost();
      this.state = "ending";
      this.post.req.end();
      const o = await this.post.done;
      if (o.kind === "response") {
        if (o.status === 404) this.failWith(new TrickleError("not-found", `channel not found (404) at seq ${this.seq}`, { status: 404, seq: this.seq }));
        if (o.status !== 200) {
          this.failWith(new TrickleError("status", `segment ${this.seq}: HTTP ${o.status} ${o.body.slice(0, 200)}`, { status: o.status, seq: this.seq, terminal: false }));
        }
        this.state = "done";
        this.publisher.writerDone(this, this.sent, true);
        if (headerStr(o.headers, "Lp-Trickle-Closed")) {
          this.publisher.fail(new TrickleError("closed", `channel closed at seq ${this.seq}`, { status: o.status, seq: this.seq }));
        }
        return;
      }
      if (this.sent === 0) {
        // Nothing sent: an empty segment may be retried like any other.
        this.state = "open";
        continue;
      }
      this.failWith(new TrickleError("network", `segment ${this.seq}: ${o.error.message}`, { seq: this.seq, terminal: false, cause: o.error }));
    }
  }
}
