// RTMP ingest adapter: rtmp://host:port/live/<streamKey> -> hub admission -> segments, remuxed in process.
//
// Each publisher's FLV messages go through FlvToTs (MPEG-TS) into a TsSplitter (keyframe-aligned
// segments, and LL-HLS parts) and straight to the hub; the source facts (codecs, size, frame rate)
// come from the sequence headers (CodecFacts), so the hub runs no ffprobe. No process per stream:
// measured side by side with nginx-rtmp in bench/ingest.ts (docs/benchmarks.md). What a stream
// holds here is the segment being written; finished segments belong to the HLS window.
import { moduleLogger } from "../../core/log.ts";
import { maxSegmentDurationFor, TsSplitter } from "../../core/mpegts/splitter.ts";
import type { IngestHandle, StreamHub } from "../hub/hub.ts";
import { ingestSlabs } from "../../core/slab-pool.ts";
import { ByteArena } from "../remux/byte-arena.ts";
import { CodecFacts } from "../remux/codec-facts.ts";
import { isSequenceHeader } from "../remux/flv-tag.ts";
import { FlvToTs } from "../remux/flv-to-ts.ts";
import type { RtmpPublisher } from "./publisher.ts";
import { RtmpServer, type RtmpLimits } from "./server.ts";

const log = moduleLogger("rtmp");

/** Media bytes are reported to the hub (bitrate, publisher timeout) at most this often, not per message. */
const TOUCH_INTERVAL_MS = 100;
/** The clock is read once per this many messages (Date.now() per message was 0.5 % of a core for 10 streams). */
const TOUCH_CLOCK_EVERY = 8;

export interface RtmpIngestOptions {
  host: string;
  port: number;
  /** Unused since the RTMP server writes no files; kept so callers need not change. */
  dataDir?: string;
  segmentDuration: number;
  /** LL-HLS part target in seconds (segments are also cut into parts of at most this); 0 or absent: no parts. */
  partTarget?: number;
  /** Overrides of the RTMP server's limits (media/rtmp/limits.ts). */
  limits?: Partial<RtmpLimits>;
}

export const RTMP_APP = "live";

export async function startRtmpIngest(hub: StreamHub, opts: RtmpIngestOptions): Promise<RtmpServer> {
  const server = new RtmpServer({
    host: opts.host,
    port: opts.port,
    limits: opts.limits,
    // CodecFacts and FlvToTs copy what they keep (sequence headers; frames into the TS output).
    mediaListenersCopy: true,
    onLog: (level, msg, fields) => log[level](fields, msg),
    onPublish: async (req, publisher) => {
      if (req.app !== RTMP_APP) return `unknown application "${req.app}" (use /${RTMP_APP}/<streamKey>)`;
      let remux: RtmpRemux | undefined;
      const admitted = await hub.admit({
        streamKey: req.name,
        protocol: "rtmp",
        remoteAddress: req.remoteAddress,
        // The hub ends the session itself (with its reason) right after this.
        disconnect: () => remux?.stop(),
      });
      if (!admitted.ok) return admitted.reason;
      remux = new RtmpRemux(admitted.ingest, publisher, opts);
      return true;
    },
  });
  await server.start();
  return server;
}

/** One accepted publish: FLV messages -> facts + MPEG-TS -> segments pushed to the hub. */
class RtmpRemux {
  private readonly facts = new CodecFacts();
  private readonly splitter: TsSplitter;
  private readonly remuxer: FlvToTs;
  private readonly arena: ByteArena;
  private stopped = false;
  private untouchedBytes = 0;
  private lastTouchMs = 0;
  private untouchedMessages = 0;

  constructor(
    private readonly ingest: IngestHandle,
    private readonly publisher: RtmpPublisher,
    opts: RtmpIngestOptions,
  ) {
    const stream = ingest.stream.id;
    this.splitter = new TsSplitter({
      targetDuration: opts.segmentDuration,
      // Passthrough: the first playlist appears once a segment is complete, so the first is cut at
      // the first keyframe after half the target (1 s sooner with a 1 s GOP). Pipelines that send
      // every segment to an orchestrator keep whole ones (each costs a round trip).
      firstTargetDuration: ingest.stream.record.pipeline === "passthrough" ? opts.segmentDuration / 2 : undefined,
      maxDuration: maxSegmentDurationFor(opts.segmentDuration),
      partTarget: opts.partTarget ? opts.partTarget : undefined,
    });
    this.splitter.on("segment", (segment) => {
      if (segment.seq === 0) {
        // Facts still incomplete when the first segment is done (no frame rate in the SPS and
        // fewer frames than CodecFacts averages over): hand over what is known rather than
        // have the hub probe. Registered before the hub's own listener, so it runs first.
        segment.once("end", () => {
          if (!ingest.stream.sourceKnown && this.knowsAnything()) ingest.setSource(this.facts.sourceInfo());
        });
      }
      ingest.pushSegment(segment);
    });
    // Pooled slabs: they come back once the HLS window (and every other holder) is done with them.
    const arena = (this.arena = new ByteArena(ingestSlabs));
    this.remuxer = new FlvToTs({
      onData: (ts) => this.splitter.write(ts),
      allocate: (bytes) => arena.take(bytes),
      onWarning: (message) => log.warn({ stream }, `RTMP media: ${message}`),
    });
    publisher.onMedia((msg) => {
      if (this.stopped) return;
      this.touch(msg.data.length);
      // Once the facts are known only a new sequence header (an encoder restart) can change them.
      const factual = !this.facts.ready || isSequenceHeader(msg.kind, msg.data);
      if (factual && this.facts.observe(msg) && this.facts.ready) ingest.setSource(this.facts.sourceInfo());
      this.remuxer.write(msg);
    });
    publisher.onClose(() => {
      if (this.stopped) return;
      this.finish();
      ingest.end("publisher-left");
    });
  }

  /** The hub ends the session: disconnect the publisher and complete the open segment. */
  stop(): void {
    if (this.stopped) return;
    this.finish();
    this.publisher.close();
  }

  private finish(): void {
    this.stopped = true;
    this.splitter.end();
    this.arena.close();
    const stats = this.remuxer.stats;
    if (stats.droppedFrames || stats.timestampJumps) log.info({ stream: this.ingest.stream.id, ...stats }, "RTMP publish ended");
  }

  private touch(bytes: number): void {
    this.untouchedBytes += bytes;
    if (++this.untouchedMessages < TOUCH_CLOCK_EVERY) return;
    this.untouchedMessages = 0;
    const now = Date.now();
    if (now - this.lastTouchMs < TOUCH_INTERVAL_MS) return;
    this.lastTouchMs = now;
    this.ingest.touch(this.untouchedBytes);
    this.untouchedBytes = 0;
  }

  private knowsAnything(): boolean {
    const f = this.facts.facts;
    return f.videoCodec !== undefined || f.audioCodec !== undefined;
  }
}
