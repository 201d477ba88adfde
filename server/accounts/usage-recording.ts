// Writing usage records: billed batch requests, their refunds and settlements, and intervals of live streams.
import { requireNonNegative } from "./key-input.ts";
import { parseWei, type PriceBook } from "./pricing.ts";
import type { AuditEntry, UsageInsertOptions, UsageRecord, UsageStore } from "./types.ts";

export interface BatchUsageInput {
  keyId: string;
  pipeline: string;
  model?: string | null;
  units: number;
  orchestrator?: string | null;
  orchestratorCostWei?: string | bigint;
  /** EV of the tickets sent for this request (wei). */
  paidWei?: string | bigint;
  requestId?: string | null;
  /** Overrides the price book. */
  chargeMicros?: number;
  ts?: number;
}

export interface StreamUsageInput {
  keyId: string;
  streamId: string;
  pipeline: string;
  durationSeconds: number;
  /** Output pixels in this interval. */
  pixels: number;
  orchestrator?: string | null;
  orchestratorCostWei?: string | bigint;
  /** EV of the tickets sent for this interval's work (wei). */
  paidWei?: string | bigint;
  /** E.g. `${streamId}:${minuteIndex}`; makes the write idempotent. */
  requestId?: string | null;
  chargeMicros?: number;
  ts?: number;
}

type AuditFn = (e: { actor: string; action: string; target?: string | null; details?: Record<string, unknown> }) => Promise<AuditEntry>;

export class UsageRecorder {
  constructor(
    private readonly usage: Pick<UsageStore, "insert" | "findByRequest">,
    private readonly priceBook: PriceBook,
    private readonly audit: AuditFn,
    private readonly now: () => number,
  ) {}

  /** Records a billed batch request; durable when the promise resolves (write it before replying 200). */
  async recordBatch(u: BatchUsageInput, opts?: UsageInsertOptions): Promise<UsageRecord> {
    const wei = parseWei(u.orchestratorCostWei);
    requireNonNegative(u.units, "units");
    return this.usage.insert({
      ts: u.ts ?? this.now(),
      kind: "batch",
      keyId: u.keyId,
      pipeline: u.pipeline,
      model: u.model ?? null,
      streamId: null,
      requestId: u.requestId ?? null,
      units: Math.round(u.units),
      durationMs: 0,
      orchestrator: u.orchestrator ?? null,
      orchestratorCostWei: wei.toString(),
      paidWei: parseWei(u.paidWei).toString(),
      chargeMicros: u.chargeMicros ?? this.priceBook.charge({ pipeline: u.pipeline, units: u.units, orchestratorCostWei: wei }),
      currency: this.priceBook.currency,
    }, opts);
  }

  /**
   * Cancels a billed batch request whose result could not be delivered: appends a record
   * with the negated units, cost and charge (request id `<requestId>:refund`), so totals,
   * spend caps and exports net it out. Idempotent; undefined when there is nothing to refund.
   */
  async refundBatch(requestId: string, reason: string): Promise<UsageRecord | undefined> {
    const orig = await this.usage.findByRequest(requestId);
    if (!orig || orig.kind !== "batch") return undefined;
    const refundId = `${requestId}:refund`;
    const existing = await this.usage.findByRequest(refundId);
    if (existing) return existing;
    const rec = await this.usage.insert({
      ...orig,
      ts: this.now(),
      requestId: refundId,
      units: -orig.units,
      orchestratorCostWei: (-BigInt(orig.orchestratorCostWei)).toString(),
      // The tickets were sent and stay paid: a refund to the customer does not undo them.
      paidWei: "0",
      chargeMicros: -orig.chargeMicros,
    });
    await this.audit({ actor: "system", action: "usage.refund", target: orig.keyId, details: { requestId, reason, chargeMicros: orig.chargeMicros } });
    return rec;
  }

  /**
   * Brings a billed batch request to the units its answer turned out to use (a streamed LLM
   * answer is billed by max_tokens before its first byte, and counted when it ends): appends
   * a record of the difference in units, cost and charge (request id `<requestId>:settle`),
   * so the request's records add up to `final`. Append-only like refunds, idempotent, no
   * record when nothing differs; undefined when there is no such request.
   */
  async settleBatch(requestId: string, final: { units: number; orchestratorCostWei: string | bigint }): Promise<UsageRecord | undefined> {
    requireNonNegative(final.units, "units");
    const orig = await this.usage.findByRequest(requestId);
    if (!orig || orig.kind !== "batch") return undefined;
    const settleId = `${requestId}:settle`;
    const existing = await this.usage.findByRequest(settleId);
    if (existing) return existing;
    const units = Math.round(final.units);
    const wei = parseWei(final.orchestratorCostWei);
    const charge = this.priceBook.charge({ pipeline: orig.pipeline, units, orchestratorCostWei: wei });
    if (units === orig.units && wei === BigInt(orig.orchestratorCostWei) && charge === orig.chargeMicros) return undefined;
    return this.usage.insert({
      ...orig,
      ts: this.now(),
      requestId: settleId,
      units: units - orig.units,
      orchestratorCostWei: (wei - BigInt(orig.orchestratorCostWei)).toString(),
      // The tickets were paid from the projection before the call; they stay on the first record.
      paidWei: "0",
      chargeMicros: charge - orig.chargeMicros,
    });
  }

  /** Records one interval (typically a minute) of a live or transcode stream. */
  async recordStream(u: StreamUsageInput): Promise<UsageRecord> {
    const wei = parseWei(u.orchestratorCostWei);
    requireNonNegative(u.durationSeconds, "durationSeconds");
    requireNonNegative(u.pixels, "pixels");
    const durationMs = Math.round(u.durationSeconds * 1000);
    return this.usage.insert({
      ts: u.ts ?? this.now(),
      kind: "stream",
      keyId: u.keyId,
      pipeline: u.pipeline,
      model: null,
      streamId: u.streamId,
      requestId: u.requestId ?? null,
      units: Math.round(u.pixels),
      durationMs,
      orchestrator: u.orchestrator ?? null,
      orchestratorCostWei: wei.toString(),
      paidWei: parseWei(u.paidWei).toString(),
      chargeMicros: u.chargeMicros ?? this.priceBook.charge({ pipeline: u.pipeline, units: u.pixels, durationMs, orchestratorCostWei: wei }),
      currency: this.priceBook.currency,
    });
  }
}
