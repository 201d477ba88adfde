// Relay one buffered request to an upstream and its answer to the client, over undici's
// dispatch API: the answer's head and bytes are written to the client's response as they
// arrive (an SSE answer is not held), with backpressure both ways. The contract is
// core/reverse-proxy.ts's `proxyHttp` (same ProxyTarget and ProxyOutcome): an answer the
// caller does not want relayed (`notRelayed`), or a failure before the answer's head, leaves
// the client's response untouched so the request can be tried on another upstream.
//
// Why not proxyHttp: for a single-shot app request the proxy's own CPU is the overhead a
// customer sees, and node:http's client (ClientRequest, agent bookkeeping, an
// IncomingMessage stream per answer) was the largest part of it. undici's dispatch parses
// with llhttp straight into this handler, with no stream objects per exchange.
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import { answerHeaders, DEFAULT_HEAD_TIMEOUT_MS, forwardHeaders, MAX_NOT_RELAYED_BODY_BYTES, noAnswerReason, type ProxyOutcome, type ProxyTarget } from "../core/reverse-proxy.ts";

/** content-length is set from the buffered body; expect was answered by this server already (undici refuses to send it). */
const NOT_FORWARDED: ReadonlySet<string> = new Set(["content-length", "expect"]);

type Controller = Dispatcher.DispatchController;

class RelayHandler implements Dispatcher.DispatchHandler {
  private controller?: Controller;
  private status = 0;
  /** Relaying (the head went to the client) or collecting a not-relayed answer. */
  private relaying = false;
  private collected: Buffer[] = [];
  private collectedBytes = 0;
  private bytesOut = 0;
  private settled = false;
  private held = false;
  private flush?: NodeJS.Immediate;
  /**
   * Bounds the wait for an answer to relay: its head, or all of an answer that is not relayed (a
   * runner's 503 that never ends its body must not hold the request). Our timer, not undici's
   * headersTimeout: undici keeps its timers of 1 s and more in a list of its own until its next tick
   * (up to a second) even once cleared, so at thousands of requests a second each one's timer
   * outlived young-generation collections, which copied and promoted them (bench/apps-overhead.ts).
   * A cleared Node timer is unlinked at once.
   */
  private readonly answerTimer: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    private readonly target: ProxyTarget,
    private readonly resolve: (o: ProxyOutcome) => void,
  ) {
    const ms = target.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS;
    this.answerTimer = setTimeout(() => this.giveUp(noAnswerReason(target, ms)), ms);
    // A client that left before the relay began (while its payment was signed, say) closed the
    // response already: its "close" is not coming again, and writes to it would wait for a drain.
    if (res.destroyed) this.done(0, false, "client went away");
    else res.on("close", this.onClientClose);
  }

  private readonly onClientClose = (): void => {
    if (this.settled) return;
    this.controller?.abort(new Error("client went away"));
    this.done(this.relaying ? this.status : 0, this.relaying, "client went away");
  };

  /** No answer in time: the request is aborted (the upstream sees its connection closed). */
  private giveUp(reason: string): void {
    if (this.settled) return;
    this.done(0, false, reason); // first: the abort reports back as an error with the status seen
    this.controller?.abort(new Error(reason));
  }

  private done(status: number, answered: boolean, error?: string): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.answerTimer);
    this.res.off("close", this.onClientClose);
    this.resolve({ status, answered, bytesOut: this.bytesOut, error });
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.settled) controller.abort(new Error("client went away"));
  }

  onResponseStart(_controller: Controller, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200 || this.settled) return; // 1xx
    this.status = status;
    if (this.target.notRelayed?.(status)) return;
    clearTimeout(this.answerTimer); // relayed: a stream (SSE) may pause as long as it likes
    this.relaying = true;
    const res = this.res;
    res.writeHead(status, answerHeaders(headers, res));
    // Head, body and end in one write when the answer comes at once; otherwise released on the
    // next turn of the event loop, so a streamed answer still gets its head and first bytes now.
    this.held = true;
    res.cork();
    this.flush = setImmediate(this.release);
  }

  private readonly release = (): void => {
    if (!this.held) return;
    this.held = false;
    if (this.flush) clearImmediate(this.flush);
    if (this.bytesOut === 0 && !this.res.writableEnded) this.res.flushHeaders();
    this.res.uncork();
  };

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (!this.relaying) {
      if (this.collectedBytes + chunk.length <= MAX_NOT_RELAYED_BODY_BYTES) this.collected.push(chunk);
      this.collectedBytes += chunk.length;
      return;
    }
    this.bytesOut += chunk.length;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once("drain", () => controller.resume());
    }
  }

  onResponseEnd(): void {
    if (!this.relaying) {
      return this.done(this.status, false, Buffer.concat(this.collected).toString("utf8"));
    }
    this.res.end();
    this.release();
    this.done(this.status, true);
  }

  onResponseError(_controller: Controller, err: Error): void {
    if (this.flush) clearImmediate(this.flush);
    if (this.relaying) {
      this.res.destroy(err);
      return this.done(this.status, true, err.message);
    }
    this.done(this.status, false, err.message);
  }
}

/**
 * Send `body` to `target` with the request's end-to-end headers and relay the answer to `res`.
 * Resolves once the answer was relayed in full, or (`answered: false`) when it was not relayed.
 */
export function relayBuffered(dispatcher: Dispatcher, method: string, headers: IncomingHttpHeaders, body: Buffer, res: ServerResponse, target: ProxyTarget): Promise<ProxyOutcome> {
  return new Promise((resolve) => {
    res.socket?.setNoDelay(true);
    // An incoming request's header values are strings (string[] for a repeated one), and so are `extra`'s.
    const out = forwardHeaders(headers, target.headers, NOT_FORWARDED) as Record<string, string | string[]>;
    if (body.length > 0 || (method !== "GET" && method !== "HEAD")) out["content-length"] = String(body.length);
    const handler = new RelayHandler(res, target, resolve);
    try {
      dispatcher.dispatch(
        {
          origin: target.url.origin,
          path: `${target.url.pathname}${target.url.search}`,
          method: method as Dispatcher.HttpMethod,
          headers: out,
          body: body.length > 0 ? body : null,
          // The handler bounds the wait (its answerTimer); a relayed answer may stream (SSE) with
          // long gaps: as proxyHttp, no bound once its head went out.
          headersTimeout: 0,
          bodyTimeout: 0,
        },
        handler,
      );
    } catch (err) {
      // undici validates the request synchronously (a method or header it will not send).
      handler.onResponseError(undefined as never, err as Error);
    }
  });
}
