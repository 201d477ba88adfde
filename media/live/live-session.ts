// The gateway side of one live-video-to-video stream: pinned to one orchestrator, with a hot
// standby and failover. Input segments stream to the active orchestrator as they are produced;
// its output is cut into keyframe-aligned segments and published on `stream.outputs` (rendition
// "ai"). On a failure (publish error, output/events end, no output while input flows, event
// silence) the standby takes over at once: latest params replayed, the in-progress input
// segment re-sent from its start, a discontinuity marked, the failure reported, a new standby
// picked, and the swap recorded. Too many swaps in the window end the stream.
import { randomUUID } from "node:crypto";
import { moduleLogger } from "../../core/log.ts";
import { metrics } from "../../core/metrics.ts";
import { probeSource } from "../hub/probe.ts";
import { completeSegment, type LiveSegment } from "../../core/live-segment.ts";
import type { Stream } from "../hub/stream.ts";
import type { Rendition } from "../hub/types.ts";
import { TsSplitter } from "../../core/mpegts/splitter.ts";
import { acquireSession, type AcquireOptions, type LiveRouting } from "./acquire.ts";
import { detectFailure } from "./failure-detector.ts";
import { LatencySample } from "./latency.ts";
import type { ChunkClock, LiveFailureReason, OrchSession } from "./orchestrator-session.ts";
import { Standby } from "./standby.ts";
import { SwapLimiter } from "./swap-limiter.ts";
import { TsFrameCounter } from "../../core/mpegts/frame-counter.ts";

const log = moduleLogger("live-session");

export const AI_RENDITION = "ai";

export interface LiveSessionOptions {
  routing: LiveRouting;
  modelId: string;
  params: Record<string, unknown>;
  /** Target segment duration (s): output segments and the no-output clock. */
  segmentDuration: number;
  /** Swap after this many segment durations without output while input flows. */
  noOutputFactor: number;
  maxSwaps: number;
  swapWindowSec: number;
  /** Swap after this long without a status event while input flows (0 = off). */
  eventSilenceMs?: number;
  /** No input byte for this long = the publisher paused (default 1000 ms). */
  inputIdleMs?: number;
  /** Keep a hot standby (default true). */
  standby?: boolean;
  /** Give up starting after this long without any orchestrator (default 15 s). */
  startTimeoutMs?: number;
  /** Off-chain payment ping period (default 5 s; 0 = off). */
  paymentIntervalMs?: number;
  /** Ends the stream (kick with reason "failed" and this detail). */
  fail(detail: string): void;
}

export interface SwapRecord {
  at: string;
  reason: LiveFailureReason;
  detail: string;
  from: string;
  to: string | null;
  /** Failure detected -> first output byte from the new orchestrator. */
  durationMs: number | null;
}

type State = "starting" | "running" | "swapping" | "failed" | "stopped";

export class LiveSession {
  private readonly o: LiveSessionOptions;
  private state: State = "starting";
  private params: Record<string, unknown>;
  private active: OrchSession | undefined;
  private readonly standby: Standby | undefined;
  private readonly limiter: SwapLimiter;
  private readonly swaps: SwapRecord[] = [];
  private readonly recentFailures = new Map<string, number>();
  private currentInput: LiveSegment | undefined;
  private lastInputAt: number | undefined;
  private inputResumedAt: number | undefined;
  private readonly clock: ChunkClock = new WeakMap();
  private readonly inCounter: TsFrameCounter;
  private readonly outCounter: TsFrameCounter;
  private readonly ptsClock = new Map<number, number>();
  private readonly ingestLatency = new LatencySample();
  private readonly outputLatency = new LatencySample();
  private readonly e2eLatency = new LatencySample();
  private splitter: TsSplitter | undefined;
  private nextOutSeq = 0;
  private publishChain: Promise<void> = Promise.resolve();
  private rendition: Rendition | undefined;
  private announcing: Promise<void> | undefined;
  private meteredFrames = 0;
  private segmentsIn = 0;
  private segmentsOut = 0;
  private readonly tick: NodeJS.Timeout;
  private readonly acquireOpts: AcquireOptions;
  private readonly startedAt = Date.now();
  private endDetail: string | undefined;
  private firstOutputAt: number | undefined;
  private startupHoldMs: number | undefined;

  constructor(
    readonly stream: Stream,
    opts: LiveSessionOptions,
  ) {
    this.o = opts;
    this.params = opts.params;
    this.limiter = new SwapLimiter(opts.maxSwaps, opts.swapWindowSec * 1000);
    this.inCounter = new TsFrameCounter(3000, (pts) => {
      if (pts === undefined) return;
      this.ptsClock.set(Math.round(pts * 1000), Date.now());
      if (this.ptsClock.size > 600) this.ptsClock.delete(this.ptsClock.keys().next().value!);
    });
    this.outCounter = new TsFrameCounter(3000, (pts) => {
      if (pts === undefined) return;
      const t = this.ptsClock.get(Math.round(pts * 1000));
      if (t !== undefined) this.e2eLatency.add(Date.now() - t);
    });
    this.acquireOpts = {
      routing: opts.routing,
      modelId: opts.modelId,
      streamId: stream.id,
      params: () => this.params,
      requestId: () => randomUUID(),
      inputIdleMs: this.inputIdleMs,
      clock: this.clock,
      onIngestLatency: (ms) => this.ingestLatency.add(ms),
      paymentIntervalMs: opts.paymentIntervalMs ?? 5000,
      // Tickets paid for the active and the standby session are this stream's cost.
      onPaid: (wei) => this.stream.addUsage(0, 0n, null, wei),
    };
    if (opts.standby ?? true) {
      this.standby = new Standby({
        acquire: (exclude) => acquireSession(this.acquireOpts, exclude),
        exclude: () => this.excluded(),
        onFailure: (s, reason, detail) => {
          this.markFailed(s.address);
          opts.routing.failure(s.address, reason as LiveFailureReason, detail);
        },
      });
    }
    stream.on("segment", this.onInput);
    this.tick = setInterval(() => this.check(), 200);
    this.tick.unref();
    void this.start();
  }

  private get inputIdleMs(): number {
    return this.o.inputIdleMs ?? 1000;
  }

  private excluded(): Set<string> {
    const now = Date.now();
    const out = new Set<string>();
    for (const [a, t] of this.recentFailures) {
      if (now - t < 10_000) out.add(a); // longer-term avoidance is the registry's suspension
      else this.recentFailures.delete(a);
    }
    if (this.active) out.add(this.active.address);
    const sb = this.standby?.current;
    if (sb) out.add(sb.address);
    return out;
  }

  private markFailed(address: string): void {
    this.recentFailures.set(address, Date.now());
  }

  // ---------------------------------------------------------------- start and swaps

  private async start(): Promise<void> {
    const deadline = Date.now() + (this.o.startTimeoutMs ?? 15_000);
    for (;;) {
      if (this.stopped) return;
      const s = await acquireSession(this.acquireOpts, this.excluded());
      if (this.stopped) {
        void s?.close();
        return;
      }
      if (s) {
        this.promote(s);
        this.standby?.ensure();
        return;
      }
      if (Date.now() > deadline) {
        return this.end(`no orchestrator could start live-video-to-video for model ${this.o.modelId}`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private get stopped(): boolean {
    return this.state === "stopped" || this.state === "failed";
  }

  private promote(s: OrchSession, swap?: { record: SwapRecord; t0: number }): void {
    this.active = s;
    this.state = "running";
    s.activate();
    s.on("failure", (reason, detail) => {
      if (this.active === s) void this.swap(s, reason, detail);
    });
    const splitter = new TsSplitter({ targetDuration: this.o.segmentDuration, firstSeq: this.nextOutSeq, discontinuityFirst: swap !== undefined });
    this.splitter = splitter;
    splitter.on("segment", (seg) => this.onOutputSegment(seg, s));
    let first = true;
    s.on("output", (chunk, at) => {
      if (this.active !== s || this.splitter !== splitter) return;
      if (first) {
        first = false;
        if (swap) {
          swap.record.durationMs = Date.now() - swap.t0;
          metrics.liveSwapDuration.observe(swap.record.durationMs / 1000);
          log.info({ stream: this.stream.id, to: s.address, ms: swap.record.durationMs }, "live swap complete: output resumed");
        }
      }
      this.outCounter.write(chunk);
      splitter.write(chunk);
      // Steady state only: the first segment's bytes wait for the rendition probe (startupHoldMs).
      if (this.rendition) this.outputLatency.add(Date.now() - at);
      else this.firstOutputAt ??= at;
    });
    if (swap) {
      // Replay the latest params first so the new orchestrator applies them from the first
      // segment; the in-progress input segment is queued at once (so a segment starting
      // meanwhile follows it, in order) and flows as soon as the replay is done (or 300 ms).
      const replay = s.updateParams(this.params).catch(() => undefined);
      s.holdInputUntil(Promise.race([replay, new Promise((r) => setTimeout(r, 300))]));
    }
    const cur = this.currentInput;
    if (cur && !cur.aborted) s.send(cur);
  }

  private async swap(old: OrchSession, reason: LiveFailureReason, detail: string): Promise<void> {
    if (this.stopped || this.active !== old) return;
    const t0 = Date.now();
    this.active = undefined;
    this.state = "swapping";
    // The old orchestrator's partial output segment ends here (what arrived stays playable).
    this.splitter?.end();
    this.splitter = undefined;
    void old.close();
    this.markFailed(old.address);
    this.o.routing.failure(old.address, reason, detail);
    metrics.liveSwaps.inc({ reason });
    const record: SwapRecord = { at: new Date(t0).toISOString(), reason, detail, from: old.address, to: null, durationMs: null };
    this.swaps.push(record);
    if (this.swaps.length > 50) this.swaps.shift();
    log.warn({ stream: this.stream.id, from: old.address, reason, detail }, "live orchestrator failed: swapping");
    if (!this.limiter.allow(t0)) {
      return this.end(`live AI: ${this.limiter.count(t0)} orchestrator swaps within ${this.o.swapWindowSec} s (limit ${this.o.maxSwaps}); last failure: ${reason} (${detail})`);
    }
    let next = this.standby?.take();
    const deadline = t0 + (this.o.startTimeoutMs ?? 15_000);
    while (!next && !this.stopped) {
      next = await acquireSession(this.acquireOpts, this.excluded());
      if (next) break;
      // No endless retrying of a stream nobody can serve (it would be metered meanwhile).
      if (Date.now() > deadline) {
        return this.end(`${reason === "payment" ? "payment: " : ""}no orchestrator could take over live-video-to-video for model ${this.o.modelId} after ${reason} (${detail})`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    if (!next) return;
    if (this.stopped) {
      void next.close();
      return;
    }
    record.to = next.address;
    this.promote(next, { record, t0 });
    this.stream.emit("orchestratorSwap", { reason, detail, from: old.address, to: next.address });
    this.standby?.ensure();
  }

  private end(detail: string): void {
    if (this.stopped) return;
    this.endDetail = detail;
    log.warn({ stream: this.stream.id, detail }, "live session failed: ending the stream");
    void this.shutdown("failed");
    setImmediate(() => this.o.fail(detail));
  }

  // ---------------------------------------------------------------- input

  private readonly onInput = (seg: LiveSegment): void => {
    this.currentInput = seg;
    this.segmentsIn++;
    const onData = (chunk: Buffer) => {
      const now = Date.now();
      if (this.lastInputAt === undefined || now - this.lastInputAt >= this.inputIdleMs) this.inputResumedAt = now;
      this.lastInputAt = now;
      this.clock.set(chunk, now);
      this.inCounter.write(chunk);
    };
    for (const c of seg.chunks) onData(c);
    seg.on("data", onData);
    seg.once("end", () => seg.off("data", onData));
    this.active?.send(seg);
  };

  // ---------------------------------------------------------------- output

  private onOutputSegment(seg: LiveSegment, from: OrchSession): void {
    this.segmentsOut++;
    this.nextOutSeq = seg.seq + 1;
    seg.once("end", () => this.meter(from));
    if (!this.rendition) this.announcing ??= this.announce(seg);
    const announcing = this.announcing;
    this.publishChain = this.publishChain.then(async () => {
      if (announcing) await announcing;
      if (this.state === "stopped") return;
      if (seg.discontinuity) this.stream.outputs.discontinuity();
      this.stream.outputs.publish(AI_RENDITION, seg);
    });
  }

  /** Renditions from a probe of the first output segment (its first bytes, or all of it). */
  private async announce(seg: LiveSegment): Promise<void> {
    await Promise.race([seg.bytes().catch(() => undefined), new Promise((r) => setTimeout(r, 400))]);
    let info;
    try {
      info = await probeSource(completeSegment(0, 0, Buffer.concat(seg.chunks), 0));
      if (!info.width) throw new Error("no video yet");
    } catch {
      try {
        info = await probeSource(completeSegment(0, 0, await seg.bytes(), 0));
      } catch {
        info = await this.stream.sourceReady().catch(() => this.stream.source);
      }
    }
    const source = this.stream.source;
    this.rendition = {
      name: AI_RENDITION,
      width: info.width ?? source.width ?? 0,
      height: info.height ?? source.height ?? 0,
      bandwidth: Math.max(300_000, Math.round(Math.max(this.stream.bitrate(), 500_000) * 1.5)),
      codecs: info.hlsCodecs || source.hlsCodecs || "avc1.64001f,mp4a.40.2",
      fps: info.fps ?? source.fps,
    };
    if (this.state !== "stopped") this.stream.outputs.setRenditions([this.rendition]);
    if (this.firstOutputAt !== undefined) this.startupHoldMs = Date.now() - this.firstOutputAt;
  }

  /** Usage: real output pixels that flowed from the orchestrator, at its price. */
  private meter(from: OrchSession): void {
    const frames = this.outCounter.frames - this.meteredFrames;
    this.meteredFrames = this.outCounter.frames;
    const r = this.rendition;
    if (!r || frames <= 0) return;
    const pixels = frames * r.width * r.height;
    const cost = BigInt(Math.ceil(pixels * from.target.pricePerPixelWei));
    this.stream.addUsage(pixels, cost, from.address);
  }

  // ---------------------------------------------------------------- control and status

  private check(): void {
    const a = this.active;
    if (!a || this.state !== "running") return;
    const f = detectFailure(
      {
        now: Date.now(),
        lastInputAt: this.lastInputAt,
        inputResumedAt: this.inputResumedAt,
        activatedAt: a.activatedAt ?? a.createdAt,
        lastOutputAt: a.lastOutputAt,
        lastEventAt: a.lastEventAt,
      },
      {
        inputIdleMs: this.inputIdleMs,
        noOutputMs: this.o.noOutputFactor * this.o.segmentDuration * 1000,
        eventSilenceMs: this.o.eventSilenceMs ?? 0,
      },
    );
    if (f) a.fail(f.reason, f.detail);
  }

  /** New params: sent on the active orchestrator's control channel (and the standby's). */
  async updateParams(params: Record<string, unknown>): Promise<{ applied: boolean; orchestrator: string | null }> {
    this.params = params;
    this.standby?.updateParams(params);
    const a = this.active;
    if (!a) return { applied: false, orchestrator: null };
    await a.updateParams(params);
    return { applied: true, orchestrator: a.address };
  }

  status(): Record<string, unknown> {
    const a = this.active;
    const sb = this.standby?.current;
    const now = Date.now();
    return {
      pipeline: "live-video-to-video",
      state: this.state,
      modelId: this.o.modelId,
      params: this.params,
      startedAt: new Date(this.startedAt).toISOString(),
      orchestrator: a
        ? {
            address: a.address,
            transcoder: a.target.transcoder,
            manifestId: a.urls.manifestId,
            requestId: a.urls.requestId,
            activeSince: a.activatedAt ? new Date(a.activatedAt).toISOString() : null,
            lastOutputMsAgo: a.lastOutputAt ? now - a.lastOutputAt : null,
            lastEventMsAgo: a.lastEventAt ? now - a.lastEventAt : null,
            lastEvent: a.lastEvent ?? null,
          }
        : null,
      standby: sb
        ? { address: sb.address, state: "ready", manifestId: sb.urls.manifestId, since: new Date(sb.createdAt).toISOString(), lastEvent: sb.lastEvent ?? null }
        : this.standby?.isStarting
          ? { address: null, state: "starting" }
          : this.standby
            ? { address: null, state: "none", reason: this.standby.lastError ?? null }
            : null,
      input: { fps: this.inCounter.fps(), frames: this.inCounter.frames, segments: this.segmentsIn, lastByteMsAgo: this.lastInputAt ? now - this.lastInputAt : null },
      output: { fps: this.outCounter.fps(), frames: this.outCounter.frames, segments: this.segmentsOut, rendition: this.rendition ?? null },
      latency: {
        ingestMs: this.ingestLatency.view(),
        outputMs: this.outputLatency.view(),
        endToEndMs: this.e2eLatency.view(),
        startupHoldMs: this.startupHoldMs ?? null,
      },
      swapCount: this.swaps.length,
      swapsInWindow: this.limiter.count(),
      swaps: this.swaps,
      ...(this.endDetail ? { endDetail: this.endDetail } : {}),
    };
  }

  private async shutdown(state: State): Promise<void> {
    if (this.state === "stopped" || this.state === "failed") return;
    this.state = state;
    clearInterval(this.tick);
    this.stream.off("segment", this.onInput);
    this.splitter?.end();
    this.splitter = undefined;
    const a = this.active;
    this.active = undefined;
    await Promise.allSettled([a?.close(), this.standby?.stop()]);
  }

  /** The stream ended: stop forwarding, close both orchestrator sessions. */
  async stop(): Promise<void> {
    await this.shutdown("stopped");
  }
}
