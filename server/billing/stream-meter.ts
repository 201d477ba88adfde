// Live stream metering: one durable usage record per stream per interval (duration,
// output pixels, orchestrator, cost), and the spend-cap check that ends a stream crossing it.
import type { Accounts } from "../accounts/index.ts";
import type { StreamHub } from "../../media/hub/hub.ts";
import type { Stream } from "../../media/hub/stream.ts";
import { moduleLogger } from "../../core/log.ts";

const log = moduleLogger("meter");

/**
 * After a stream ends, segments already sent to orchestrators still finish (on a loaded machine,
 * seconds later) and add their pixels and paid tickets to the stream. They are recorded as late
 * records (no duration: the time was billed by the final one), checked this often, for this long.
 */
const LATE_CHECK_MS = 1000;
const LATE_WINDOW_MS = 60_000;

export class StreamMeter {
  private readonly timer: NodeJS.Timeout;
  private readonly lastMeteredAt = new Map<string, number>();
  private readonly intervals = new Map<string, number>();
  /** Streams that ended lately: their late work is still recorded. */
  private readonly settling = new Map<Stream, number>();
  private lateTimer?: NodeJS.Timeout;

  constructor(
    private readonly hub: StreamHub,
    private readonly accounts: Accounts,
    intervalMs: number,
  ) {
    hub.on("published", (stream) => this.lastMeteredAt.set(stream.id, Date.now()));
    hub.on("unpublished", (stream) => {
      this.record(stream, true).catch((err: unknown) => log.error({ stream: stream.id, err: (err as Error).message }, "final stream usage record failed"));
      this.settling.set(stream, Date.now());
      this.lateTimer ??= setInterval(() => this.recordLate().catch((err: unknown) => log.error({ err: (err as Error).message }, "late stream usage record failed")), LATE_CHECK_MS).unref();
    });
    this.timer = setInterval(() => this.tick().catch((err: unknown) => log.error({ err: (err as Error).message }, "stream metering failed")), intervalMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    for (const stream of this.hub.liveStreams()) await this.record(stream, false);
  }

  /** Writes the usage since the last record, then checks the owner's caps. */
  async record(stream: Stream, final: boolean): Promise<void> {
    const since = this.lastMeteredAt.get(stream.id);
    const keyId = stream.record.ownerKeyId;
    if (since === undefined || !keyId) return;
    const now = Date.now();
    const taken = stream.usage;
    const { pixels, costWei, paidWei, orchestrator } = taken;
    stream.usage = { pixels: 0, costWei: 0n, paidWei: 0n, orchestrator: taken.orchestrator };
    const n = (this.intervals.get(stream.id) ?? 0) + 1;
    this.intervals.set(stream.id, n);
    if (final) {
      this.lastMeteredAt.delete(stream.id);
    } else {
      this.lastMeteredAt.set(stream.id, now);
    }
    try {
      await this.accounts.recordStreamUsage({
        keyId,
        streamId: stream.id,
        pipeline: stream.record.pipeline,
        // Orchestrator work with no output in the interval (nothing could serve it) is not billed
        // by time either; passthrough has no orchestrator output and is billed by time.
        durationSeconds: stream.record.pipeline === "passthrough" || pixels > 0 ? (now - since) / 1000 : 0,
        pixels,
        orchestrator,
        orchestratorCostWei: costWei,
        paidWei,
        requestId: `${stream.id}:${since}`,
        ts: now,
      });
    } catch (err) {
      // Keep what was not written: it goes into the next record (same start, so the retry of an
      // interval whose write did land is still recorded once).
      stream.usage.pixels += pixels;
      stream.usage.costWei += costWei;
      stream.usage.paidWei += paidWei;
      if (!final) this.lastMeteredAt.set(stream.id, since);
      log.error({ stream: stream.id, err: (err as Error).message }, "could not record stream usage; kept for the next interval");
      return;
    }
    if (final) return;
    let decision;
    try {
      const key = await this.accounts.getKey(keyId);
      if (!key) return;
      decision = await this.accounts.checkSpend(key, 0);
    } catch (err) {
      // The key store or the cluster's limits are down (Redis, PostgreSQL): the usage is recorded,
      // and the cap is checked again at the next interval.
      log.error({ stream: stream.id, err: (err as Error).message }, "could not check the stream owner's spend cap; checked again next interval");
      return;
    }
    if (!decision.ok) {
      log.warn({ stream: stream.id, cap: decision.cap }, "spend cap reached: ending stream");
      stream.lastEndDetail = decision.message;
      this.hub.kick(stream.id, "spend-cap");
    }
  }

  /** Work that finished after its stream ended (see LATE_WINDOW_MS). */
  private async recordLate(): Promise<void> {
    const now = Date.now();
    for (const [stream, endedAt] of this.settling) {
      // Live again: the new session's records take what is pending.
      if (stream.live || now - endedAt > LATE_WINDOW_MS) this.settling.delete(stream);
      if (stream.live) continue;
      const { pixels, costWei, paidWei, orchestrator } = stream.usage;
      const keyId = stream.record.ownerKeyId;
      if (!keyId || (pixels === 0 && costWei === 0n && paidWei === 0n)) continue;
      stream.usage = { pixels: 0, costWei: 0n, paidWei: 0n, orchestrator };
      try {
        await this.accounts.recordStreamUsage({
          keyId, streamId: stream.id, pipeline: stream.record.pipeline, durationSeconds: 0, pixels, orchestrator,
          orchestratorCostWei: costWei, paidWei, requestId: `${stream.id}:late:${now}`, ts: now,
        });
      } catch (err) {
        stream.usage.pixels += pixels;
        stream.usage.costWei += costWei;
        stream.usage.paidWei += paidWei;
        log.error({ stream: stream.id, err: (err as Error).message }, "could not record a stream's late usage; kept for the next check");
      }
    }
    if (this.settling.size === 0) {
      clearInterval(this.lateTimer);
      this.lateTimer = undefined;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.lateTimer);
  }
}
