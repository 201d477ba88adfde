// One live-video-to-video session at one orchestrator, as a gateway drives it
// (livepeer-wire.md section 5): the start request, then four trickle clients — input publisher,
// output subscriber (from -1), control publisher (params + keepalive) and events subscriber.
// It only reports what it sees ('output' bytes, 'event's, one 'failure'); the LiveSession
// decides what is active, what is standby, and when to swap.
import { EventEmitter } from "node:events";
import { request } from "undici";
import { BodyTooLargeError, readBoundedText } from "../../protocol/bounded-body.ts";
import { Capability } from "../../protocol/capabilities.ts";
import { orchestratorDispatcher } from "../../protocol/http-agent.ts";
import type { AuthToken } from "../../protocol/messages.ts";
import { aiRequestHeaders, PAYMENT_HEADER, SEGMENT_HEADER } from "../../protocol/segment-header.ts";
import { PaymentRefusal } from "../../protocol/payments/balance-session.ts";
import type { LivePaymentSession, LiveStartPayment } from "../../protocol/payments/live-payments.ts";
import type { ClientTlsPolicy } from "../../protocol/tls.ts";
import { TrickleError, TrickleJsonPublisher, TrickleJsonSubscriber, TricklePublisher, TrickleSubscriber } from "../../protocol/trickle/index.ts";
import { moduleLogger } from "../../core/log.ts";
import type { LiveSegment } from "../../core/live-segment.ts";

/** A start answer is a small JSON object of channel URLs. */
const MAX_START_ANSWER_BYTES = 64 * 1024;
const log = moduleLogger("live-orch");

/** Why a session is considered failed. */
export type LiveFailureReason =
  | "publish-error"
  | "output-ended"
  | "output-error"
  | "events-ended"
  | "events-silent"
  | "no-output"
  /** The session could not be paid (price above the ceiling, signer failing): the orchestrator stops serving. */
  | "payment";

export type StartErrorKind = "busy" | "auth" | "payment" | "bad-request" | "timeout" | "network" | "other";

export class LiveStartError extends Error {
  constructor(
    readonly kind: StartErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "LiveStartError";
  }
}

export interface LiveTarget {
  address: string;
  transcoder: string;
  authToken: AuthToken;
  /** Wei per output pixel. */
  pricePerPixelWei: number;
}

export interface LiveUrls {
  publishUrl: string;
  subscribeUrl: string;
  controlUrl: string;
  eventsUrl: string;
  manifestId: string;
  requestId: string;
}

export interface StartRequest {
  modelId: string;
  params: Record<string, unknown>;
  streamId: string;
  requestId: string;
}

/** `POST {transcoder}/live-video-to-video`: the orchestrator creates the channels and answers their URLs. */
export async function requestLiveSession(
  target: LiveTarget,
  req: StartRequest,
  opts: { timeoutMs?: number; tls?: ClientTlsPolicy; payment?: LiveStartPayment } = {},
): Promise<LiveUrls> {
  const headers: Record<string, string> = { ...aiRequestHeaders(Capability.LiveVideoToVideo, req.modelId, target.authToken), "content-type": "application/json" };
  if (opts.payment) {
    headers[PAYMENT_HEADER] = opts.payment.payment;
    if (opts.payment.segCreds) headers[SEGMENT_HEADER] = opts.payment.segCreds;
  }
  const base = target.transcoder.replace(/\/+$/, "");
  const timeoutMs = opts.timeoutMs ?? 5000;
  const signal = AbortSignal.timeout(timeoutMs);
  let status = 0;
  let text: string;
  try {
    const res = await request(`${base}/live-video-to-video`, {
      method: "POST",
      dispatcher: orchestratorDispatcher(opts.tls),
      signal,
      headers,
      body: JSON.stringify({ model_id: req.modelId, params: req.params, gateway_request_id: req.requestId, stream_id: req.streamId }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    status = res.statusCode;
    text = await readBoundedText(res.body, MAX_START_ANSWER_BYTES, "live-video-to-video start");
  } catch (err) {
    if (signal.aborted) throw new LiveStartError("timeout", `live-video-to-video start timed out after ${timeoutMs} ms`);
    if (err instanceof BodyTooLargeError) throw new LiveStartError("other", `live-video-to-video start (${status}): ${err.message}`, status);
    throw new LiveStartError("network", `live-video-to-video start failed: ${(err as Error).message}`);
  }
  const snippet = text.slice(0, 200);
  if (status === 503) throw new LiveStartError("busy", `orchestrator busy: ${snippet}`, status);
  if (status === 403 || status === 401) throw new LiveStartError("auth", `credentials refused (${status}): ${snippet}`, status);
  if (status === 402) throw new LiveStartError("payment", `payment refused: ${snippet}`, status);
  if (status === 400 || status === 422) throw new LiveStartError("bad-request", `start refused (${status}): ${snippet}`, status);
  if (status !== 200) throw new LiveStartError("other", `start failed (${status}): ${snippet}`, status);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new LiveStartError("other", "start answer is not JSON");
  }
  const url = (k: string) => {
    const v = body[k];
    if (typeof v !== "string" || !v) throw new LiveStartError("other", `start answer lacks ${k}`);
    let u: URL;
    try {
      u = new URL(v, `${base}/`);
    } catch {
      throw new LiveStartError("other", `start answer's ${k} is not a URL`);
    }
    // Trickle channels are HTTP: anything else could not be used (and a session half made with it would be paid for).
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new LiveStartError("other", `start answer's ${k} is not an http(s) URL`);
    return u.toString();
  };
  return {
    publishUrl: url("publish_url"),
    subscribeUrl: url("subscribe_url"),
    controlUrl: url("control_url"),
    eventsUrl: url("events_url"),
    manifestId: typeof body.manifest_id === "string" ? body.manifest_id : "",
    requestId: typeof body.request_id === "string" ? body.request_id : req.requestId,
  };
}

export interface OrchSessionEvents {
  /** Output bytes (MPEG-TS) and when they arrived. */
  output: [chunk: Buffer, at: number];
  event: [value: unknown];
  /** Emitted once; the session is unusable afterwards. */
  failure: [reason: LiveFailureReason, detail: string];
}

export type OrchRole = "standby" | "active";

/** Chunk arrival times of input segments, for the ingest latency (set by the LiveSession). */
export type ChunkClock = WeakMap<Buffer, number>;

export class OrchSession extends EventEmitter<OrchSessionEvents> {
  role: OrchRole = "standby";
  readonly createdAt = Date.now();
  activatedAt: number | undefined;
  lastInputAt: number | undefined;
  /** First input byte after a pause (or ever): the output clock starts here. */
  inputResumedAt: number | undefined;
  lastOutputAt: number | undefined;
  firstOutputAt: number | undefined;
  lastEventAt: number | undefined;
  lastEvent: unknown;
  segmentsSent = 0;
  failed: { reason: LiveFailureReason; detail: string } | undefined;
  private closed = false;
  private readonly publisher: TricklePublisher;
  private readonly subscriber: TrickleSubscriber;
  private readonly control: TrickleJsonPublisher;
  private readonly events: TrickleJsonSubscriber;
  private sendChain: Promise<void> = Promise.resolve();
  private paymentTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly target: LiveTarget,
    readonly urls: LiveUrls,
    private readonly opts: {
      modelId: string;
      inputIdleMs: number;
      clock?: ChunkClock;
      onIngestLatency?: (ms: number) => void;
      tls?: ClientTlsPolicy;
      keepaliveMs?: number;
      paymentIntervalMs?: number;
      /** Pays this session (absent: a free orchestrator, which gets empty payments while active). */
      payment?: LivePaymentSession;
      /** New ticket EV sent for this session, wei (for usage records). */
      onPaid?: (wei: bigint) => void;
    },
  ) {
    super();
    this.paidReported = opts.payment?.paidWei ?? 0n; // the start payment was reported by acquire
    this.publisher = new TricklePublisher(urls.publishUrl, { contentType: "video/MP2T" });
    this.publisher.on("error", (e: TrickleError) => {
      if (e.terminal) this.fail("publish-error", `${e.kind}: ${e.message}`);
    });
    this.subscriber = new TrickleSubscriber(urls.subscribeUrl, { start: -1, retries: 3, retryDelayMs: 200 });
    this.control = new TrickleJsonPublisher(urls.controlUrl);
    this.control.startKeepalive(opts.keepaliveMs ?? 10_000);
    this.events = new TrickleJsonSubscriber(urls.eventsUrl, { start: -1, retries: 3, retryDelayMs: 200 });
    void this.outputLoop();
    void this.eventsLoop();
    // Last: a constructor that threw above leaves no timer paying for a session nobody holds.
    if (opts.payment && opts.paymentIntervalMs) {
      // Paid sessions, active or standby, pay every interval; checked on every input segment
      // (go-livepeer paces live payments by segments) and on a timer (a standby gets none).
      this.paymentTimer = setInterval(() => void this.payDue(), Math.max(250, opts.paymentIntervalMs / 2));
      this.paymentTimer.unref();
    }
  }

  get address(): string {
    return this.target.address;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Marks the session active (input will flow, output matters). */
  activate(): void {
    this.role = "active";
    this.activatedAt = Date.now();
    if (this.opts.paymentIntervalMs && !this.paymentTimer && !this.opts.payment) {
      this.paymentTimer = setInterval(() => void this.pay(), this.opts.paymentIntervalMs);
      this.paymentTimer.unref();
    }
  }

  /** Input sent after this call waits for `gate` (e.g. params replayed on a new orchestrator). */
  holdInputUntil(gate: Promise<unknown>): void {
    this.sendChain = this.sendChain.then(() => gate).then(
      () => undefined,
      () => undefined,
    );
  }

  /** Streams one input segment (from its first byte, live) to the next publish seq. */
  send(seg: LiveSegment): void {
    this.sendChain = this.sendChain.then(() => this.sendOne(seg));
  }

  private async sendOne(seg: LiveSegment): Promise<void> {
    if (this.closed || this.failed) return;
    let w;
    try {
      w = await this.publisher.next();
    } catch (err) {
      this.fail("publish-error", (err as Error).message);
      return;
    }
    this.segmentsSent++;
    void this.payDue();
    try {
      for await (const chunk of seg.iterate()) {
        if (this.closed || this.failed) {
          w.abort();
          return;
        }
        const now = Date.now();
        if (this.lastInputAt === undefined || now - this.lastInputAt > this.opts.inputIdleMs) this.inputResumedAt = now;
        this.lastInputAt = now;
        await w.write(chunk);
        // First send only: a segment re-sent after a swap carries old bytes, not gateway latency.
        const arrived = this.opts.clock?.get(chunk);
        if (arrived !== undefined && this.role === "active") {
          this.opts.clock!.delete(chunk);
          this.opts.onIngestLatency?.(Date.now() - arrived);
        }
        this.lastInputAt = Date.now();
      }
      await w.end();
    } catch (err) {
      if (err instanceof TrickleError) {
        if (!this.closed) this.fail("publish-error", `${err.kind}: ${err.message}`);
      } else {
        w.abort(); // the source segment was aborted: not the orchestrator's fault
      }
    }
  }

  /** Sends a params update (one JSON message on the control channel). */
  async updateParams(params: Record<string, unknown>): Promise<void> {
    if (this.closed) return;
    await this.control.send(params);
  }

  private async outputLoop(): Promise<void> {
    for (;;) {
      let seg;
      try {
        seg = await this.subscriber.next();
      } catch (err) {
        return this.fail("output-error", (err as Error).message);
      }
      if (!seg) {
        if (!this.closed) this.fail("output-ended", "the orchestrator closed the output channel");
        return;
      }
      try {
        for await (const chunk of seg.body) {
          if (this.closed) return;
          const now = Date.now();
          this.firstOutputAt ??= now;
          this.lastOutputAt = now;
          this.emit("output", chunk as Buffer, now);
        }
      } catch (err) {
        if (!this.closed) this.fail("output-error", `output segment ${seg.seq} cut off: ${(err as Error).message}`);
        return;
      }
    }
  }

  private async eventsLoop(): Promise<void> {
    for (;;) {
      let msg;
      try {
        msg = await this.events.next();
      } catch (err) {
        return this.fail("events-ended", `events: ${(err as Error).message}`);
      }
      if (!msg) {
        if (!this.closed) this.fail("events-ended", "the orchestrator closed the events channel");
        return;
      }
      this.lastEventAt = Date.now();
      this.lastEvent = msg.value;
      this.emit("event", msg.value);
    }
  }

  /** The last payment problem, if the latest cycle failed (shown with a failure it may explain). */
  paymentError: string | undefined;
  private paying = false;
  private paidReported = 0n;

  /** One payment cycle when the interval has passed since the last one. */
  private async payDue(): Promise<void> {
    const p = this.opts.payment;
    if (!p || this.paying || this.closed || this.failed) return;
    if (Date.now() - p.lastPaidAt < (this.opts.paymentIntervalMs ?? 5000)) return;
    this.paying = true;
    try {
      await p.cycle();
      this.paymentError = undefined;
    } catch (err) {
      this.paymentError = (err as Error).message;
      log.warn({ address: this.address, manifestId: this.urls.manifestId, err: this.paymentError }, "live payment failed");
      if (err instanceof PaymentRefusal && err.kind !== "signer") this.fail("payment", this.paymentError);
    } finally {
      this.paying = false;
      this.reportPaid();
    }
  }

  private reportPaid(): void {
    const total = this.opts.payment?.paidWei ?? 0n;
    if (total > this.paidReported) {
      this.opts.onPaid?.(total - this.paidReported);
      this.paidReported = total;
    }
  }

  /** Empty payments to a free orchestrator while active (as the Python SDK does off-chain). */
  private async pay(): Promise<void> {
    if (this.closed) return;
    try {
      const res = await request(`${this.target.transcoder.replace(/\/+$/, "")}/payment`, {
        method: "POST",
        dispatcher: orchestratorDispatcher(this.opts.tls),
        headers: aiRequestHeaders(Capability.LiveVideoToVideo, this.opts.modelId, this.target.authToken),
        body: "",
        signal: AbortSignal.timeout(3000),
      });
      await res.body.dump();
    } catch (err) {
      log.debug({ address: this.address, err: (err as Error).message }, "live payment failed");
    }
  }

  /** Reports a failure (once) — unless the session was closed on purpose. */
  fail(reason: LiveFailureReason, detail: string): void {
    if (this.closed || this.failed) return;
    // An orchestrator closes a session it is not paid for: say so instead of "output ended".
    if (this.paymentError && reason !== "payment") {
      detail = `${detail} (after a failed payment: ${this.paymentError})`;
      reason = "payment";
    }
    this.failed = { reason, detail };
    log.info({ address: this.address, role: this.role, manifestId: this.urls.manifestId, reason, detail }, "live orchestrator session failed");
    this.emit("failure", reason, detail);
  }

  /** Stops everything; deletes the input and control channels (the orchestrator ends the session). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.paymentTimer) clearInterval(this.paymentTimer);
    this.subscriber.close();
    this.events.close();
    await Promise.allSettled([this.publisher.close(), this.control.close()]);
  }
}
