// Live AI (live-video-to-video): each live stream runs a LiveSession (media/live/) pinned to
// one orchestrator with a hot standby. This module is the processor factory for the hub and
// the per-stream lookup the API routes use
// (params updates, status — the last status of an ended stream is kept for a while).
import type { Processor, Stream } from "../hub/stream.ts";
import type { ProcessorFactory } from "../hub/hub.ts";
import type { LiveRouting } from "../live/acquire.ts";
import { LiveSession } from "../live/live-session.ts";

export const DEFAULT_LIVE_MODEL = "noop";

export interface LiveAiOptions {
  /** Orchestrator selection for a model (server/orchestrators/live-routing.ts). */
  routing(modelId: string): LiveRouting;
  segmentDuration: number;
  noOutputFactor: number;
  maxSwaps: number;
  swapWindowSec: number;
  /** No status event for this long while input flows = failure (0 = off; default 30 s). */
  eventSilenceMs?: number;
  /** Seconds between live payments (go-livepeer -livePaymentInterval; default 5). */
  paymentIntervalMs?: number;
  /** End a stream (hub.kick(id, "failed") with the detail). */
  kick(stream: Stream, detail: string): void;
}

export interface LiveAiProcessor extends Processor {
  readonly live: true;
  updateParams(params: Record<string, unknown>): Promise<{ applied: boolean; orchestrator: string | null }>;
  status(): Record<string, unknown>;
}

export function isLiveAiProcessor(p: Processor | undefined): p is LiveAiProcessor {
  return (p as LiveAiProcessor | undefined)?.live === true;
}

/** Live sessions by stream id, plus the last status of streams that ended. */
export class LiveAiSessions {
  private readonly live = new Map<string, LiveAiProcessor>();
  private readonly ended = new Map<string, { at: number; status: Record<string, unknown> }>();

  add(streamId: string, p: LiveAiProcessor): void {
    this.live.set(streamId, p);
  }

  finished(streamId: string, p: LiveAiProcessor): void {
    if (this.live.get(streamId) === p) this.live.delete(streamId);
    this.ended.set(streamId, { at: Date.now(), status: { ...p.status(), ended: true } });
    const cutoff = Date.now() - 60 * 60_000;
    for (const [id, e] of this.ended) if (e.at < cutoff || this.ended.size > 1000) this.ended.delete(id);
  }

  get(streamId: string): LiveAiProcessor | undefined {
    return this.live.get(streamId);
  }

  lastStatus(streamId: string): Record<string, unknown> | undefined {
    return this.ended.get(streamId)?.status;
  }
}

export function createLiveAiProcessorFactory(opts: LiveAiOptions, sessions = new LiveAiSessions()): { factory: ProcessorFactory; sessions: LiveAiSessions } {
  const factory: ProcessorFactory = (stream: Stream) => {
    const modelId = stream.record.options.modelId ?? DEFAULT_LIVE_MODEL;
    const session = new LiveSession(stream, {
      routing: opts.routing(modelId),
      modelId,
      params: stream.record.options.params ?? {},
      segmentDuration: opts.segmentDuration,
      noOutputFactor: opts.noOutputFactor,
      maxSwaps: opts.maxSwaps,
      swapWindowSec: opts.swapWindowSec,
      eventSilenceMs: opts.eventSilenceMs ?? 30_000,
      paymentIntervalMs: opts.paymentIntervalMs,
      fail: (detail) => opts.kick(stream, detail),
    });
    let stopped = false;
    const processor: LiveAiProcessor = {
      live: true,
      updateParams: (params) => session.updateParams(params),
      status: () => session.status(),
      async stop() {
        if (stopped) return;
        stopped = true;
        await session.stop();
        sessions.finished(stream.id, processor);
      },
    };
    sessions.add(stream.id, processor);
    return processor;
  };
  return { factory, sessions };
}
