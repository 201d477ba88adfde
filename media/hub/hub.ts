// The one registry of live streams. Admission (stream key, duplicates, limits) happens
// here, in exactly one place, before an ingest adapter accepts any media.
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import { moduleLogger } from "../../core/log.ts";
import { metrics } from "../../core/metrics.ts";
import { probeSource } from "./probe.ts";
import { Stream, type IngestSession, type Processor } from "./stream.ts";
import type { LiveSegment } from "../../core/live-segment.ts";
import type { EndReason, IngestProtocol, Pipeline, SourceInfo, StreamDirectory } from "./types.ts";

const log = moduleLogger("hub");

/** Segments whose probe may fail before the stream is ended as not understood. */
const MAX_PROBE_ATTEMPTS = 3;

export interface AdmitRequest {
  streamKey: string;
  protocol: IngestProtocol;
  remoteAddress: string;
  disconnect(reason: EndReason): void;
}

export type AdmitResult = { ok: true; ingest: IngestHandle } | ({ ok: false } & Refusal);

export interface Refusal {
  status: 401 | 402 | 403 | 404 | 409 | 429 | 503;
  reason: string;
}

/**
 * Extra admission rules added by the control plane (stream-key owner, concurrency per key,
 * spend caps). A check may hold a resource (a concurrency slot): `release` runs when the
 * session ends, or at once if a later check refuses.
 */
export type AdmissionCheck = (
  stream: Stream,
  req: AdmitRequest,
) => Promise<Refusal | { release?: () => void } | undefined> | Refusal | { release?: () => void } | undefined;

export type ProcessorFactory = (stream: Stream) => Processor;

/** What an ingest adapter holds while its publisher is live. */
export interface IngestHandle {
  readonly stream: Stream;
  readonly sessionId: string;
  /** A source segment started (bytes keep arriving into it). */
  pushSegment(segment: LiveSegment): void;
  /**
   * The adapter read the source facts itself (RTMP: from the sequence headers), so the hub runs no
   * ffprobe for this session. Adapters that cannot (WHIP, whose media ffmpeg turns into TS) never
   * call it: their first complete segment is probed. Called again when the facts change (an
   * encoder restart with another size).
   */
  setSource(info: SourceInfo): void;
  /** Media bytes arrived (loss detection, bitrate). */
  touch(bytes: number): void;
  /** The session ended; idempotent. */
  end(reason: EndReason): void;
}

export interface HubOptions {
  publisherTimeoutMs: number;
  maxLive: number;
}

export interface HubEvents {
  published: [Stream];
  unpublished: [Stream, EndReason];
  /** The stream was deleted: output adapters drop its state and viewers. */
  removed: [string];
  /** A publisher of a known stream was turned away at admission. */
  refused: [Stream, Refusal];
}

export class StreamHub extends EventEmitter<HubEvents> {
  private readonly streams = new Map<string, Stream>();
  private readonly processors = new Map<Pipeline, ProcessorFactory>();
  private readonly checks: AdmissionCheck[] = [];
  /** Runs only while a stream is live, so it does not wake an idle gateway 4 times a second. */
  private watchdog?: NodeJS.Timeout;

  constructor(
    private readonly directory: StreamDirectory,
    private readonly opts: HubOptions,
  ) {
    super();
  }

  registerProcessor(pipeline: Pipeline, factory: ProcessorFactory): void {
    this.processors.set(pipeline, factory);
  }

  supports(pipeline: Pipeline): boolean {
    return this.processors.has(pipeline);
  }

  addAdmissionCheck(check: AdmissionCheck): void {
    this.checks.push(check);
  }

  /** The in-memory stream for a stored record (created on first use), or undefined if unknown. */
  get(id: string): Stream | undefined {
    const record = this.directory.get(id);
    const existing = this.streams.get(id);
    if (existing) {
      // The directory holds the current record (a rotated key, new options).
      if (record) existing.record = record;
      return existing;
    }
    if (!record) return undefined;
    const stream = new Stream(record);
    this.streams.set(id, stream);
    return stream;
  }

  liveStreams(): Stream[] {
    return [...this.streams.values()].filter((s) => s.live);
  }

  /**
   * The one admission point for every ingest protocol. Adapters must not forward media
   * before this resolves; a refusal means the publisher is cut off and nothing is created.
   */
  async admit(req: AdmitRequest): Promise<AdmitResult> {
    const result = await this.decide(req);
    if (!result.ok) metrics.ingestRejected.inc({ protocol: req.protocol, status: String(result.status) });
    return result;
  }

  private async decide(req: AdmitRequest): Promise<AdmitResult> {
    const record = req.streamKey ? await this.directory.findByStreamKey(req.streamKey) : undefined;
    if (!record) return { ok: false, status: 401, reason: "unknown stream key" };
    const factory = this.processors.get(record.pipeline);
    if (!factory) return { ok: false, status: 503, reason: `pipeline ${record.pipeline} is not available on this gateway` };
    const stream = this.get(record.id)!;
    stream.record = record;
    const quick = this.quickRefusal(stream);
    if (quick) return this.refuse(stream, quick);
    const releases: Array<() => void> = [];
    const releaseAll = () => {
      for (const r of releases.splice(0)) {
        try {
          r();
        } catch (err) {
          log.warn({ err: (err as Error).message }, "admission release failed");
        }
      }
    };
    for (const check of this.checks) {
      let result: Awaited<ReturnType<AdmissionCheck>>;
      try {
        result = await check(stream, req);
      } catch (err) {
        releaseAll();
        log.error({ stream: stream.id, err: (err as Error).message }, "admission check failed");
        return this.refuse(stream, { status: 503, reason: "admission check failed" });
      }
      if (result && "status" in result) {
        releaseAll();
        return this.refuse(stream, result);
      }
      if (result?.release) releases.push(result.release);
    }
    // Checks awaited: someone else may have gone live on this key meanwhile.
    const late = this.quickRefusal(stream);
    if (late) {
      releaseAll();
      return this.refuse(stream, late);
    }

    const session: IngestSession = {
      id: randomUUID(),
      protocol: req.protocol,
      remoteAddress: req.remoteAddress,
      startedAt: Date.now(),
      disconnect: req.disconnect,
    };
    stream.session = session;
    stream.source = {};
    stream.lastMediaAt = Date.now();
    this.watchdog ??= setInterval(() => this.checkPublishers(), Math.min(250, this.opts.publisherTimeoutMs / 4)).unref();
    stream.bytesIn = 0;
    stream.segmentsIn = 0;
    stream.segmentsWithoutKeyframe = 0;
    stream.keyframeInterval = undefined;
    stream.lastEndDetail = undefined;
    stream.sessions += 1;
    let ended = false;
    let probing = false;
    let probeFailures = 0;

    const handle: IngestHandle = {
      stream,
      sessionId: session.id,
      pushSegment: (segment) => {
        if (ended) return;
        stream.segmentsIn += 1;
        stream.keyframeInterval = segment.keyframeInterval ?? stream.keyframeInterval;
        if (!segment.startsWithKeyframe) stream.segmentsWithoutKeyframe += 1;
        metrics.sourceSegments.inc();
        if (!probing && !stream.sourceKnown) {
          // Probed on the first complete segment; a failed probe is retried on the next ones,
          // and a source that cannot be understood ends the stream with the reason.
          probing = true;
          segment.once("end", () => {
            // The adapter may have told the facts while the segment was written.
            if (segment.aborted || stream.sourceKnown) {
              probing = false;
              return;
            }
            void probeSource(segment).then(
              (info) => {
                probing = false;
                if (stream.session !== session) return;
                stream.source = info;
                stream.emit("source", info);
              },
              (err: Error) => {
                probing = false;
                probeFailures++;
                log.warn({ stream: stream.id, err: err.message, attempt: probeFailures }, "could not probe source");
                if (probeFailures >= MAX_PROBE_ATTEMPTS && stream.session === session) {
                  stream.lastEndDetail = `the source could not be understood after ${probeFailures} segments: ${err.message.slice(0, 300)}`;
                  this.kick(stream.id, "failed");
                }
              },
            );
          });
        }
        stream.emit("segment", segment);
      },
      setSource: (info) => {
        if (ended || stream.session !== session) return;
        stream.source = info;
        stream.emit("source", info);
      },
      touch: (bytes) => {
        if (ended) return;
        stream.touch(bytes);
        metrics.ingestBytes.inc({ protocol: req.protocol }, bytes);
      },
      end: (reason) => {
        if (ended) return;
        ended = true;
        releaseAll();
        metrics.streamsLive.dec({ protocol: req.protocol, pipeline: stream.record.pipeline });
        metrics.streamEnds.inc({ reason });
        if (stream.session === session) stream.session = undefined;
        stream.lastEndReason = reason;
        stream.lastEndedAt = Date.now();
        const processor = stream.processor;
        stream.processor = undefined;
        void processor?.stop().catch((err: Error) => log.warn({ stream: stream.id, err: err.message }, "processor stop failed"));
        stream.outputs.ended();
        stream.emit("unpublished", reason);
        this.emit("unpublished", stream, reason);
        log.info({ stream: stream.id, reason }, "stream ended");
      },
    };

    try {
      stream.processor = factory(stream);
    } catch (err) {
      stream.session = undefined;
      releaseAll();
      log.error({ stream: stream.id, err: (err as Error).message }, "processor failed to start");
      return { ok: false, status: 503, reason: `processor failed to start: ${(err as Error).message}` };
    }
    this.sessionsById.set(session.id, handle);
    stream.once("unpublished", () => this.sessionsById.delete(session.id));
    metrics.streamsLive.inc({ protocol: req.protocol, pipeline: stream.record.pipeline });
    stream.emit("published", session);
    this.emit("published", stream);
    log.info({ stream: stream.id, protocol: req.protocol, remote: req.remoteAddress }, "stream live");
    return { ok: true, ingest: handle };
  }

  private readonly sessionsById = new Map<string, IngestHandle>();

  private quickRefusal(stream: Stream): Refusal | undefined {
    if (stream.live) return { status: 409, reason: "stream key is already live" };
    if (this.liveStreams().length >= this.opts.maxLive) return { status: 503, reason: "gateway is at its live stream limit" };
    return undefined;
  }

  /** Disconnect a live stream's publisher. */
  kick(streamId: string, reason: EndReason): boolean {
    const stream = this.streams.get(streamId);
    const session = stream?.session;
    if (!stream || !session) return false;
    const handle = this.sessionsById.get(session.id);
    try {
      session.disconnect(reason);
    } catch (err) {
      log.warn({ stream: streamId, err: (err as Error).message }, "disconnect failed");
    }
    handle?.end(reason);
    return true;
  }

  /** Disconnect every live stream owned by an API key (key revoked, cap reached). */
  kickOwner(ownerKeyId: string, reason: EndReason): number {
    let n = 0;
    for (const stream of this.liveStreams()) {
      if (stream.record.ownerKeyId === ownerKeyId && this.kick(stream.id, reason)) n++;
    }
    return n;
  }

  /** The stream was deleted: disconnect it and forget it. */
  remove(streamId: string): void {
    this.kick(streamId, "deleted");
    this.streams.delete(streamId);
    this.emit("removed", streamId);
  }

  /** Ends publishers that sent no media for publisherTimeoutMs; stops itself once none is live. */
  private checkPublishers(): void {
    const now = Date.now();
    const live = this.liveStreams();
    if (live.length === 0) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
      return;
    }
    for (const stream of live) {
      if (now - stream.lastMediaAt > this.opts.publisherTimeoutMs) {
        log.info({ stream: stream.id }, "no media from publisher: ending");
        this.kick(stream.id, "publisher-timeout");
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    for (const stream of this.liveStreams()) this.kick(stream.id, "shutdown");
  }

  /** A refusal, remembered on the stream so its owner can read why a publisher was turned away. */
  private refuse(stream: Stream, r: Refusal): AdmitResult {
    stream.lastRefusal = { at: Date.now(), status: r.status, reason: r.reason };
    this.emit("refused", stream, r);
    return { ok: false, ...r };
  }
}
