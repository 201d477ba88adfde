// One stream in the hub: its record, ingest session, source info, stats and outputs.
import { EventEmitter } from "node:events";
import { StreamOutputs } from "./outputs.ts";
import type { LiveSegment } from "../../core/live-segment.ts";
import type { EndReason, IngestProtocol, SourceInfo, StreamRecord } from "./types.ts";

export interface IngestSession {
  readonly id: string;
  readonly protocol: IngestProtocol;
  readonly remoteAddress: string;
  readonly startedAt: number;
  /** Cut the publisher off (adapter-specific). */
  disconnect(reason: EndReason): void;
}

export interface StreamEvents {
  published: [IngestSession];
  /** A source segment started; bytes stream into it. */
  segment: [LiveSegment];
  source: [SourceInfo];
  unpublished: [EndReason];
  /** The processor moved the stream to another orchestrator (live AI failover). */
  orchestratorSwap: [OrchestratorSwap];
}

/** One failover of a stream's orchestrator, as its processor reports it. */
export interface OrchestratorSwap {
  /** Why the old orchestrator was dropped (the failure detector's reason). */
  reason: string;
  detail: string;
  from: string;
  /** The orchestrator that took over. */
  to: string;
}

export interface Processor {
  stop(): Promise<void>;
  /** Pipeline-specific status for GET /v1/streams/{id}/status. */
  status?(): Record<string, unknown>;
}

const BITRATE_WINDOW_MS = 5000;

export class Stream extends EventEmitter<StreamEvents> {
  session?: IngestSession;
  source: SourceInfo = {};
  processor?: Processor;
  readonly outputs = new StreamOutputs();
  lastEndReason?: EndReason;
  /** A human-readable explanation of the last end (e.g. which spend cap). */
  lastEndDetail?: string;
  lastEndedAt?: number;
  lastMediaAt = 0;
  bytesIn = 0;
  segmentsIn = 0;
  sessions = 0;
  private byteSamples: Array<[number, number]> = [];
  /** Billable work since the last usage record (processors add, the meter drains). */
  usage = { pixels: 0, costWei: 0n, paidWei: 0n, orchestrator: null as string | null };

  /** Processors report orchestrator work here (output pixels, what the orchestrator charged). */
  /** `costWei` at the orchestrator's price; `paidWei` the EV of the tickets actually sent for it. */
  addUsage(pixels: number, costWei: bigint, orchestrator: string | null, paidWei = 0n): void {
    this.usage.pixels += pixels;
    this.usage.costWei += costWei;
    this.usage.paidWei += paidWei;
    if (orchestrator) this.usage.orchestrator = orchestrator;
  }

  constructor(public record: StreamRecord) {
    super();
    this.setMaxListeners(100);
  }

  get id(): string {
    return this.record.id;
  }

  get live(): boolean {
    return this.session !== undefined;
  }

  /** Called by ingest adapters on every media chunk (for loss detection and bitrate). */
  touch(bytes: number): void {
    const now = Date.now();
    this.lastMediaAt = now;
    this.bytesIn += bytes;
    this.byteSamples.push([now, bytes]);
    while (this.byteSamples.length && this.byteSamples[0]![0] < now - BITRATE_WINDOW_MS) this.byteSamples.shift();
  }

  /** Ingest bitrate over the last few seconds, bits per second. */
  bitrate(): number {
    if (!this.session || this.byteSamples.length < 2) return 0;
    const span = Math.max(1000, Date.now() - Math.max(this.byteSamples[0]![0], this.session.startedAt));
    const bytes = this.byteSamples.reduce((sum, [, b]) => sum + b, 0);
    return Math.round((bytes * 8 * 1000) / span);
  }

  get sourceKnown(): boolean {
    return this.source.videoCodec !== undefined || this.source.audioCodec !== undefined;
  }

  /**
   * Resolves with the source info once a segment was probed; rejects when the session ends
   * first (so nothing waits, and holds segments, forever).
   */
  sourceReady(): Promise<SourceInfo> {
    if (this.sourceKnown) return Promise.resolve(this.source);
    return new Promise((resolve, reject) => {
      const onSource = (info: SourceInfo) => {
        this.off("unpublished", onEnd);
        resolve(info);
      };
      const onEnd = () => {
        this.off("source", onSource);
        reject(new Error("the stream ended before its source was known"));
      };
      this.once("source", onSource);
      this.once("unpublished", onEnd);
    });
  }

  /** The JSON view used by the API. */
  /** The publisher's keyframe interval in seconds, as measured by the segmenter. */
  keyframeInterval: number | undefined;
  /** Source segments cut without a keyframe because the publisher's GOP is too long. */
  segmentsWithoutKeyframe = 0;

  /** What the publisher's owner should fix, in words (GET /v1/streams/{id}). */
  warnings(): string[] {
    const out: string[] = [];
    if (this.segmentsWithoutKeyframe > 0) {
      const gop = this.keyframeInterval === undefined ? "no keyframe seen" : `a keyframe every ${this.keyframeInterval.toFixed(1)} s`;
      out.push(
        `the encoder sends ${gop}, longer than a segment: ${this.segmentsWithoutKeyframe} segments were cut between keyframes and start mid-GOP (players may stall when joining); set the keyframe interval to the segment duration or a divisor of it (e.g. 2 s)`,
      );
    }
    return out;
  }

  /** The last publisher turned away at admission, and why (GET /v1/streams/{id}). */
  lastRefusal: { at: number; status: number; reason: string } | undefined;

  view(): Record<string, unknown> {
    const s = this.session;
    return {
      state: s ? "live" : "idle",
      ingest: s
        ? {
            protocol: s.protocol,
            remoteAddress: s.remoteAddress,
            startedAt: new Date(s.startedAt).toISOString(),
            uptimeSeconds: Math.round((Date.now() - s.startedAt) / 100) / 10,
            bitrate: this.bitrate(),
            bytesIn: this.bytesIn,
            segmentsIn: this.segmentsIn,
            keyframeInterval: this.keyframeInterval === undefined ? null : Math.round(this.keyframeInterval * 100) / 100,
            warnings: this.warnings(),
            video: this.source.videoCodec
              ? { codec: this.source.videoCodec, profile: this.source.videoProfile, width: this.source.width, height: this.source.height, fps: this.source.fps }
              : null,
            audio: this.source.audioCodec
              ? { codec: this.source.audioCodec, sampleRate: this.source.audioSampleRate, channels: this.source.audioChannels }
              : null,
          }
        : null,
      processor: this.processor?.status?.() ?? null,
      lastEnded: this.lastEndedAt
        ? { at: new Date(this.lastEndedAt).toISOString(), reason: this.lastEndReason, ...(this.lastEndDetail ? { detail: this.lastEndDetail } : {}) }
        : null,
      lastRefusal: this.lastRefusal
        ? { at: new Date(this.lastRefusal.at).toISOString(), status: this.lastRefusal.status, reason: this.lastRefusal.reason }
        : null,
    };
  }
}
