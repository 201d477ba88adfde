// Transcode: every source segment goes to an orchestrator (any may serve any segment) with
// the stream's ladder; failures retry on a different orchestrator, and a segment that still
// fails becomes a gap in each rendition's playlist — never a stall.
import type { AuthToken, VideoProfile } from "../../protocol/messages.ts";
import { transcodeSegment, TranscodeError, type TranscodeErrorKind } from "../../protocol/transcode-client.ts";
import { moduleLogger } from "../../core/log.ts";
import { metrics } from "../../core/metrics.ts";
import { probeSource } from "../hub/probe.ts";
import { completeSegment, LiveSegment } from "../../core/live-segment.ts";
import type { Processor, Stream } from "../hub/stream.ts";
import type { Rendition } from "../hub/types.ts";
import { SOURCE_RENDITION, sourceRendition } from "./passthrough.ts";
import { quantileOfSorted } from "../../core/percentile.ts";
import { PaymentRefusal } from "../../protocol/payments/balance-session.ts";

const log = moduleLogger("transcode");

/** An orchestrator chosen for one segment attempt. */
export interface SegmentRoute {
  address: string;
  transcoder: string;
  authToken: AuthToken;
  /** Wei per output pixel (pricePerUnit / pixelsPerUnit). */
  pricePerPixelWei: number;
}

/** What one segment request carries to pay for itself (server/ implements the paying). */
export interface SegmentPayment {
  /** `Livepeer-Payment` header value. */
  payment: string;
  /** Expected value of the tickets sent with it, wei. */
  evWei: bigint;
  /** The auth token to present (a refresh during payment may have renewed it). */
  authToken?: AuthToken;
  settle(outcome: "done" | "not-done"): void;
}

/** What the processor needs from orchestrator selection (server/orchestrators). */
export interface TranscodeRouting {
  /** The best orchestrator for transcoding not in `exclude`, or undefined. */
  pick(exclude: ReadonlySet<string>): SegmentRoute | undefined;
  /**
   * The payment for transcoding `pixels` output pixels on `route` (absent: orchestrators are not
   * paid). Throws when it cannot be paid: the segment then goes to another orchestrator or is a gap.
   */
  pay?(route: SegmentRoute, pixels: number): Promise<SegmentPayment>;
  success(address: string, latencyMs: number): void;
  failure(address: string, kind: TranscodeErrorKind, message: string): void;
}

export interface TranscodeOptions {
  routing: TranscodeRouting;
  ladder: VideoProfile[];
  attempts?: number;
}

export const MAX_ATTEMPTS = 3;

function summarize(samples: number[]): { samples: number; p50: number | null; p95: number | null } {
  const sorted = [...samples].sort((a, b) => a - b);
  const q = (p: number) => (sorted.length ? quantileOfSorted(sorted, p) : null);
  return { samples: sorted.length, p50: q(0.5), p95: q(0.95) };
}

/** Output pixels of a ladder for a segment: what an orchestrator charges for transcoding it. */
export function ladderPixels(ladder: readonly VideoProfile[], durationMs: number): number {
  let perSecond = 0;
  for (const p of ladder) perSecond += (p.width ?? 0) * (p.height ?? 0) * (p.fps && p.fps > 0 ? p.fps / (p.fpsDen || 1) : 30);
  return Math.ceil((perSecond * durationMs) / 1000);
}

function renditionName(p: VideoProfile, i: number): string {
  const safe = (p.name ?? "").replace(/[^A-Za-z0-9_-]/g, "");
  return safe || `r${i}_${p.height}p`;
}

export function createTranscodeProcessor(stream: Stream, opts: TranscodeOptions): Processor {
  const names = opts.ladder.map(renditionName);
  const attempts = opts.attempts ?? MAX_ATTEMPTS;
  const manifestId = `${stream.id}-${Date.now().toString(36)}`;
  let announced = false;
  let announcing: Promise<void> | undefined;
  let segmentsDone = 0;
  let segmentsFailed = 0;
  let lastOrchestrator: string | null = null;
  /** Gateway-added ms per segment: complete -> renditions published, minus the orchestrator's own work. */
  const overheadMs: number[] = [];

  async function announce(source: LiveSegment, outputs: Array<{ name: string; data: Buffer; profile: VideoProfile }>): Promise<void> {
    const info = await stream.sourceReady().catch(() => stream.source);
    const list: Rendition[] = [sourceRendition(info, source)];
    await Promise.all(
      outputs.map(async (o) => {
        let codecs = "avc1.64001f,mp4a.40.2";
        try {
          const probed = await probeSource(completeSegment(0, 0, o.data, 0));
          codecs = probed.hlsCodecs || codecs;
        } catch {
          /* keep the default */
        }
        list.push({ name: o.name, width: o.profile.width ?? 0, height: o.profile.height ?? 0, bandwidth: Math.round((o.profile.bitrate ?? 0) * 1.1 + 128000), codecs, fps: o.profile.fps || undefined });
      }),
    );
    stream.outputs.setRenditions(list);
    announced = true;
  }

  async function process(source: LiveSegment, placeholders: LiveSegment[]): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = await source.bytes();
    } catch {
      for (const p of placeholders) p.abort("source segment aborted");
      return;
    }
    const durationMs = Math.max(1, Math.round(source.duration * 1000));
    const deadline = Date.now() + Math.max(8000, 4 * durationMs);
    const tried = new Set<string>();
    const startedAt = Date.now();
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const route = opts.routing.pick(tried);
      if (!route) break;
      tried.add(route.address);
      const t0 = Date.now();
      let paid: SegmentPayment | undefined;
      try {
        paid = await opts.routing.pay?.(route, ladderPixels(opts.ladder, durationMs));
        const result = await transcodeSegment({
          transcoder: route.transcoder,
          authToken: paid?.authToken ?? route.authToken,
          payment: paid?.payment,
          manifestId,
          seq: source.seq,
          data: bytes,
          durationMs,
          profiles: opts.ladder,
          totalTimeoutMs: Math.max(1000, deadline - Date.now()),
        });
        paid?.settle("done");
        opts.routing.success(route.address, Date.now() - t0);
        metrics.orchestratorCalls.inc({ kind: "segment", result: "ok" });
        const outputs = result.renditions.map((r, i) => ({ name: names[i]!, data: r.data!, profile: opts.ladder[i]! }));
        if (!announced) await (announcing ??= announce(source, outputs));
        outputs.forEach((o, i) => {
          placeholders[i]!.push(o.data);
          placeholders[i]!.end(source.duration);
        });
        // The orchestrator's own work: from its early 200 (upload accepted) to its result.
        const orchestratorMs = result.timings.transcodedMs - result.timings.acceptedMs;
        overheadMs.push(Date.now() - source.completedAt - orchestratorMs);
        if (overheadMs.length > 200) overheadMs.shift();
        const pixels = result.renditions.reduce((sum, r) => sum + (r.pixels || 0), 0);
        stream.addUsage(pixels, BigInt(Math.ceil(pixels * route.pricePerPixelWei)), route.address, paid?.evWei ?? 0n);
        lastOrchestrator = route.address;
        segmentsDone++;
        metrics.transcodeLatency.observe((Date.now() - startedAt) / 1000);
        return;
      } catch (err) {
        // Refused before the work (busy, rejected): not debited; anything else may have been.
        const kind = err instanceof TranscodeError ? err.kind : undefined;
        paid?.settle(kind === "busy" || kind === "capped" || kind === "rejected" || kind === "payment" ? "not-done" : "done");
        // Tickets sent with a failed attempt stay paid: they are the stream's cost all the same.
        if (paid && paid.evWei > 0n) stream.addUsage(0, 0n, route.address, paid.evWei);
        if (err instanceof PaymentRefusal) {
          // Not the orchestrator's fault (its price, or our signer): no penalty, no unpaid work sent.
          log.warn({ stream: stream.id, seq: source.seq, orchestrator: route.address, err: err.message }, "segment could not be paid");
          if (Date.now() >= deadline) break;
          continue;
        }
        const e = err instanceof TranscodeError ? err : new TranscodeError("network", (err as Error).message);
        opts.routing.failure(route.address, e.kind, e.message);
        metrics.orchestratorCalls.inc({ kind: "segment", result: e.kind === "busy" ? "busy" : e.kind === "timeout" ? "timeout" : "error" });
        log.warn({ stream: stream.id, seq: source.seq, attempt, orchestrator: route.address, kind: e.kind, err: e.message }, "segment attempt failed");
        if (Date.now() >= deadline) break;
      }
    }
    segmentsFailed++;
    metrics.segmentsSkipped.inc();
    if (!announced) {
      // Nothing transcoded yet: at least let viewers watch the source.
      const info = await stream.sourceReady().catch(() => stream.source);
      if (!announced) stream.outputs.setRenditions([sourceRendition(info, source)]);
    }
    log.warn({ stream: stream.id, seq: source.seq, tried: [...tried] }, "segment skipped: no orchestrator could transcode it");
    for (const p of placeholders) p.abort("transcode failed", source.duration);
  }

  const onSegment = (source: LiveSegment) => {
    // Rendition segments are published at once, in order, and filled (or aborted into gaps) later,
    // so a slow orchestrator delays a segment but never reorders or stalls the playlists.
    const placeholders = names.map(() => new LiveSegment(source.seq, source.startPts, source.discontinuity));
    names.forEach((name, i) => stream.outputs.publish(name, placeholders[i]!));
    stream.outputs.publish(SOURCE_RENDITION, source);
    void process(source, placeholders).catch((err: Error) => {
      log.error({ stream: stream.id, err: err.message }, "transcode failed unexpectedly");
      for (const p of placeholders) p.abort("internal error", source.duration);
    });
  };
  stream.on("segment", onSegment);

  return {
    // Segments already received are finished (each is bounded by its own deadline), so the
    // last seconds of a stream are not lost when the publisher leaves.
    async stop() {
      stream.off("segment", onSegment);
    },
    status: () => ({
      pipeline: "transcode",
      renditions: [SOURCE_RENDITION, ...names],
      segmentsTranscoded: segmentsDone,
      segmentsSkipped: segmentsFailed,
      lastOrchestrator,
      gatewayOverheadMs: summarize(overheadMs),
    }),
  };
}
