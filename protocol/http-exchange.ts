// One HTTP exchange with an orchestrator (batch AI calls, result downloads) over undici's
// dispatch API, with a small handler. undici's request() builds a body stream, an
// AbortSignal and their listeners for every call; at thousands of AI requests a second
// (each one a call plus a result download) that was a tenth of the gateway's CPU.
// - The answer is read into memory, up to `maxBytes` (more fails the exchange).
// - With `streamIf`, an answer it picks (from status and headers: a large result, an
//   event stream) comes back as a Readable instead, with backpressure. With
//   `spillAbove`, a 200 answer whose body grows past that many bytes (no or a wrong
//   Content-Length) switches to a Readable too, starting with what was read so far.
// - `abort(reason)` on the returned handle cancels the exchange; the promise then
//   rejects with `reason`.
// - With `budget`, what is read into memory also counts against a bound shared by many
//   exchanges (every batch AI answer in flight), until `release()`.
import type { IncomingHttpHeaders } from "node:http";
import { Readable } from "node:stream";
import type { Dispatcher } from "undici";

export interface ExchangeRequest {
  origin: string;
  path: string;
  method: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string | Buffer | null;
  /** Bounds the wait for the answer's headers, then every gap in its body. */
  timeoutMs: number;
  maxBytes: number;
  /** Answers for which this says true are streamed instead of read into memory. */
  streamIf?: (status: number, headers: IncomingHttpHeaders) => boolean;
  /** A 200 answer read into memory past this many bytes is streamed from there on. */
  spillAbove?: number;
  /**
   * Bytes read into memory are taken from it (a declared Content-Length at once, before the body;
   * otherwise as they arrive); past it the exchange fails with ExchangeBudgetError. Given back by
   * `release()`, or when the exchange fails or streams. It bounds the bytes read, not what the
   * caller makes of them (a string and parsed objects can take as much again, or more).
   */
  budget?: ByteBudget;
}

/**
 * Bytes of answers held in memory by several exchanges together. Each answer has its own
 * `maxBytes`, but an orchestrator (a third party) that answers many requests with large bodies at
 * once could otherwise hold all of them in the gateway's memory.
 */
export class ByteBudget {
  private used = 0;
  constructor(readonly limit: number) {}
  get inUse(): number {
    return this.used;
  }
  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }
  give(n: number): void {
    this.used -= n;
  }
}

export type ExchangeResponse = { status: number; headers: IncomingHttpHeaders } & ({ body: Buffer } | { stream: Readable });

export class ExchangeTooLargeError extends Error {}
/** The answers in memory together would pass the exchange's `budget`: no fault of this answer. */
export class ExchangeBudgetError extends Error {}

type Controller = Dispatcher.DispatchController;

class BufferingHandler implements Dispatcher.DispatchHandler {
  private controller?: Controller;
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private chunks: Buffer[] = [];
  private length = 0;
  private stream?: Readable;
  private pendingAbort?: Error;
  private ended = false;
  /** Taken from the request's budget. */
  private taken = 0;

  constructor(
    private readonly req: ExchangeRequest,
    private readonly resolve: (r: ExchangeResponse) => void,
    private readonly reject: (e: Error) => void,
  ) {}

  /** Gives back to the budget what this exchange took. */
  release(): void {
    this.req.budget?.give(this.taken);
    this.taken = 0;
  }

  abort(reason: Error): void {
    if (this.controller) return this.controller.abort(reason);
    // Still queued for a connection: fail now, and abort the request if it starts later.
    this.pendingAbort = reason;
    this.reject(reason);
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.pendingAbort) controller.abort(this.pendingAbort);
  }

  onResponseStart(controller: Controller, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200 || this.pendingAbort) return; // 1xx, or aborted
    this.status = status;
    this.headers = headers;
    const declared = Number(headers["content-length"] ?? NaN);
    if (this.req.streamIf?.(status, headers)) this.startStream(controller);
    else if (declared > this.req.maxBytes) {
      controller.abort(new ExchangeTooLargeError(`answer of ${declared} bytes exceeds ${this.req.maxBytes}`));
    } else if (declared > 0) this.takeUpTo(controller, declared); // all at once, before a byte is read
  }

  /** Takes from the budget until `total` bytes are held; false (and aborted) when it has not enough. */
  private takeUpTo(controller: Controller, total: number): boolean {
    const budget = this.req.budget;
    const more = total - this.taken;
    if (!budget || more <= 0) return true;
    if (!budget.take(more)) {
      controller.abort(new ExchangeBudgetError(`answers held in memory would exceed ${budget.limit} bytes`));
      return false;
    }
    this.taken = total;
    return true;
  }

  /** From here on the body goes to a Readable (what was read so far first), and the exchange resolves with it. */
  private startStream(controller: Controller): void {
    this.stream = new Readable({
      read: () => controller.resume(),
      destroy: (err, cb) => {
        if (!this.ended) controller.abort(err ?? new Error("the stream was closed"));
        cb(err);
      },
    });
    for (const c of this.chunks) this.stream.push(c);
    this.chunks = [];
    this.release(); // the stream holds what its reader has not taken yet, with backpressure
    this.resolve({ status: this.status, headers: this.headers, stream: this.stream });
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.stream) {
      if (!this.stream.push(chunk)) controller.pause();
      return;
    }
    this.length += chunk.length;
    if (this.length > this.req.maxBytes) return controller.abort(new ExchangeTooLargeError(`answer exceeds ${this.req.maxBytes} bytes`));
    if (!this.takeUpTo(controller, this.length)) return;
    this.chunks.push(chunk);
    if (this.req.spillAbove !== undefined && this.status === 200 && this.length > this.req.spillAbove) this.startStream(controller);
  }

  onResponseEnd(): void {
    this.ended = true;
    if (this.stream) return void this.stream.push(null);
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    this.resolve({ status: this.status, headers: this.headers, body });
  }

  onResponseError(_controller: Controller, err: Error): void {
    this.ended = true;
    this.chunks = [];
    this.release();
    if (this.stream) this.stream.destroy(err);
    else this.reject(err);
  }
}

export interface Exchange {
  response: Promise<ExchangeResponse>;
  abort(reason: Error): void;
  /** Gives back to `budget` what the body read into memory took: call once done with it. */
  release(): void;
}

export function exchange(dispatcher: Dispatcher, req: ExchangeRequest): Exchange {
  let handler!: BufferingHandler;
  const response = new Promise<ExchangeResponse>((resolve, reject) => {
    handler = new BufferingHandler(req, resolve, reject);
  });
  dispatcher.dispatch(
    {
      origin: req.origin,
      path: req.path,
      method: req.method,
      headers: req.headers,
      body: req.body ?? null,
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
    },
    handler,
  );
  return { response, abort: (reason) => handler.abort(reason), release: () => handler.release() };
}
