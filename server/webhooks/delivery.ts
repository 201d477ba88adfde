// Webhook delivery from the durable outbox: the event bus's events become outbox rows (one
// commit per burst, off the publisher's call stack), and each webhook's rows are POSTed by its
// own small pool, so a slow or dead receiver holds back nothing but its own queue.
//
// At least once: a row is pending until a 2xx; a restart picks pending rows up again (a row
// in flight at the restart is sent again). A failure backs the whole webhook off (the failed
// row's delay: 1 s doubling to at most an hour, with jitter); a row still failing 24 h after
// its event is marked failed. Redirects are not followed (3xx is a failure).
//
// Cluster mode (PostgreSQL outbox): every node enqueues the events it sees and sends what is due;
// a row is claimed by one node at a time for `leaseMs`. Event ids carry the node's prefix (each
// node numbers its own events), and an event every node sees (key.revoked, stream.deleted) has a
// cluster-wide dedupe key, so it is delivered once, not once per node.
import { Agent, request, type Dispatcher } from "undici";
import { v7 as uuidv7 } from "uuid";
import { moduleLogger } from "../../core/log.ts";
import type { EventBus } from "../events/bus.ts";
import type { WharfEvent } from "../events/types.ts";
import { signatureHeader, SIGNATURE_HEADER } from "./signature.ts";
import type { Delivery, NewDelivery, Webhook, WebhookStore } from "./store.ts";
import { isPrivateAddress, publicOnlyLookup } from "./target-url.ts";
import { isIP } from "node:net";

const log = moduleLogger("webhooks");

export const FIRST_RETRY_DELAY_MS = 1000;
export const MAX_RETRY_DELAY_MS = 60 * 60 * 1000;
export const RETRY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** Deliveries in flight per webhook. */
export const CONCURRENCY_PER_WEBHOOK = 2;
/** Finished deliveries are kept this long for GET /v1/webhooks/{id}/deliveries. */
export const DELIVERY_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
/** Receivers' answers are read up to this many bytes (the rest is dropped). */
const MAX_ERROR_BODY_BYTES = 200;

export interface WebhookDeliveryOptions {
  allowPrivate: boolean;
  timeoutMs: number;
  /** Prefix of the event ids in bodies (cluster mode: the node's, so ids stay unique across nodes). */
  eventIdPrefix?: string;
  now?: () => number;
}

/** A claimed row is this node's for the attempt's timeout plus this margin. */
const LEASE_MARGIN_MS = 30_000;
/** How often the webhook list is re-read when the store cannot say it changed (a missed notification). */
const RELOAD_INTERVAL_MS = 5_000;

/**
 * Events every node emits for one fact (a revocation or deletion relayed to each node): one row
 * per webhook and fact. Other events: one row per event.
 */
export function dedupeKeyOf(event: WharfEvent, eventId: string): string {
  if (event.type === "key.revoked") return `key.revoked:${event.data.keyId}`;
  if (event.type === "stream.deleted") return `stream.deleted:${event.data.streamId}`;
  return eventId;
}

/** The delay before attempt `attempts + 1` after `attempts` failures. */
export function retryDelayMs(attempts: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** The JSON body receivers get: {id, type, createdAt, data}. */
export function webhookBody(event: WharfEvent, id: string = String(event.id)): string {
  return JSON.stringify({ id, type: event.type, createdAt: event.at, data: event.data });
}

export function webhookWants(w: Webhook, event: WharfEvent): boolean {
  if (!w.events.includes(event.type)) return false;
  if (w.streamId === null) return true;
  return (event.data as { streamId?: string }).streamId === w.streamId;
}

export class WebhookDelivery {
  private hooks: Webhook[] = [];
  private readonly inFlight = new Map<string, Set<number>>();
  /** Per webhook: no attempt before this time (set by a failure, cleared by a success). */
  private readonly backoffUntil = new Map<string, number>();
  private readonly aborts = new Set<AbortController>();
  private pendingRows: NewDelivery[] = [];
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private unwatch: (() => Promise<void>) | undefined;
  private pumping = false;
  private loaded = false;
  private pumpAgain = false;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  private readonly now: () => number;
  private readonly agent: Dispatcher;

  constructor(private readonly store: WebhookStore, private readonly opts: WebhookDeliveryOptions) {
    this.now = opts.now ?? Date.now;
    this.agent = new Agent({
      connections: CONCURRENCY_PER_WEBHOOK * 4,
      ...(opts.allowPrivate ? {} : { connect: { lookup: publicOnlyLookup as never } }),
    });
  }

  /** Subscribes at once (events seen before the webhooks are read are kept and matched after); resolves once they are read. */
  async start(bus: EventBus): Promise<void> {
    const early: WharfEvent[] = [];
    this.unsubscribe = bus.subscribe((e) => (this.loaded ? this.onEvent(e) : early.push(e)));
    await this.reload();
    this.loaded = true;
    for (const e of early.splice(0)) this.onEvent(e);
    const prune = () => void this.store.prune(this.now() - DELIVERY_RETENTION_MS).catch((err: Error) => log.warn({ err: err.message }, "webhook outbox prune failed"));
    this.pruneTimer = setInterval(prune, 60 * 60 * 1000).unref();
    prune();
    if (this.store.watch) {
      // Webhooks created or deleted on another node: told at once, and re-read now and then anyway.
      this.reloadTimer = setInterval(() => void this.reload().catch(() => undefined), RELOAD_INTERVAL_MS).unref();
      try {
        this.unwatch = await this.store.watch(() => void this.reload().catch(() => undefined));
      } catch (err) {
        log.warn({ err: (err as Error).message }, `webhook changes on other nodes are seen by re-reading every ${RELOAD_INTERVAL_MS / 1000} s only`);
      }
    }
    this.pump();
  }

  /** The webhook list changed (created or deleted). */
  async reload(): Promise<void> {
    try {
      this.hooks = await this.store.list();
    } catch (err) {
      log.warn({ err: (err as Error).message }, "webhook list not re-read");
      return;
    }
    for (const id of this.backoffUntil.keys()) if (!this.hooks.some((h) => h.id === id)) this.backoffUntil.delete(id);
  }

  private onEvent(event: WharfEvent): void {
    let body: string | undefined;
    const eventId = `${this.opts.eventIdPrefix ?? ""}${event.id}`;
    for (const w of this.hooks) {
      if (!webhookWants(w, event)) continue;
      body ??= webhookBody(event, eventId);
      this.pendingRows.push({ webhookId: w.id, eventId, dedupeKey: dedupeKeyOf(event, eventId), eventType: event.type, body, createdAt: this.now() });
    }
    if (!body || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => void this.flush());
  }

  /** Commits the events seen since the last flush to the outbox, then sends what is due. */
  async flush(): Promise<void> {
    this.flushScheduled = false;
    const rows = this.pendingRows;
    this.pendingRows = [];
    if (!rows.length) return;
    try {
      await this.store.enqueue(rows);
    } catch (err) {
      log.error({ err: (err as Error).message, events: rows.length }, "webhook outbox write failed; these deliveries are lost");
      return;
    }
    this.pump();
  }

  /** Starts what is due for every webhook with a free slot, then sleeps until the next due row. */
  private pump(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.pumpOnce()
      .catch((err: Error) => {
        log.warn({ err: err.message }, "webhook outbox not read; trying again shortly");
        if (!this.stopped) this.timer = setTimeout(() => this.pump(), 1000).unref();
      })
      .finally(() => {
        this.pumping = false;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.pump();
        }
      });
  }

  private async pumpOnce(): Promise<void> {
    const now = this.now();
    let nextWake = Infinity;
    for (const w of this.hooks) {
      const until = this.backoffUntil.get(w.id) ?? 0;
      if (until > now) {
        nextWake = Math.min(nextWake, until);
        continue;
      }
      const busy = this.inFlight.get(w.id) ?? new Set<number>();
      const free = CONCURRENCY_PER_WEBHOOK - busy.size;
      if (free <= 0) continue;
      const leaseUntil = now + this.opts.timeoutMs + LEASE_MARGIN_MS;
      for (const d of await this.store.claimDue(w.id, now, free, busy, leaseUntil)) {
        if (this.stopped) return; // claimed, not sent: taken again when the lease ends
        this.send(w, d, busy);
      }
    }
    const due = await this.store.nextDueAt();
    if (this.stopped) return;
    if (due !== undefined) nextWake = Math.min(nextWake, Math.max(due, now + 50));
    // Wake at least every 30 s: rows due while every slot was busy are picked up when one frees.
    const delay = Math.min(30_000, Math.max(50, (Number.isFinite(nextWake) ? nextWake : now + 30_000) - now));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.pump(), delay).unref();
  }

  private send(w: Webhook, d: Delivery, busy: Set<number>): void {
    busy.add(d.id);
    this.inFlight.set(w.id, busy);
    void this.attempt(w, d).finally(() => {
      busy.delete(d.id);
      if (!this.stopped) this.pump();
    });
  }

  private async attempt(w: Webhook, d: Delivery): Promise<void> {
    const started = this.now();
    const abort = new AbortController();
    this.aborts.add(abort);
    const timer = setTimeout(() => abort.abort(new Error(`no answer within ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const host = new URL(w.url).hostname.replace(/^\[|\]$/g, "");
      if (!this.opts.allowPrivate && isIP(host) && isPrivateAddress(host)) throw new Error(`${host} is a private address (webhookAllowPrivate is off)`);
      const res = await request(w.url, {
        method: "POST",
        dispatcher: this.agent,
        signal: abort.signal,
        headers: {
          "content-type": "application/json",
          "user-agent": "Wharf-Webhooks/1",
          [SIGNATURE_HEADER]: signatureHeader(w.secret, d.body, Math.floor(this.now() / 1000)),
          "wharf-event-id": d.eventId,
          "wharf-event-type": d.eventType,
          "wharf-delivery-id": String(d.id),
        },
        body: d.body,
      });
      status = res.statusCode;
      if (status < 200 || status >= 300) {
        const text = await readSome(res.body);
        error = `receiver answered ${status}${text ? `: ${text}` : ""}`;
      } else {
        // Delivered. The body is read within the delivery's deadline, up to undici's 128 KB: a
        // receiver that answers 2xx and never ends its body would otherwise hold a connection for good.
        await res.body.dump().catch(() => {});
      }
    } catch (err) {
      error = abort.signal.aborted ? String((abort.signal.reason as Error)?.message ?? "timed out") : describe(err);
    } finally {
      clearTimeout(timer);
      this.aborts.delete(abort);
    }
    if (this.stopped && error) return; // stopping: the row stays pending as it was, sent again after the restart
    const at = this.now();
    const durationMs = at - started;
    if (!error) {
      this.backoffUntil.delete(w.id);
      await this.record(d.id, { state: "delivered", at, nextAttemptAt: at, status, error: null, durationMs });
      return;
    }
    const attempts = d.attempts + 1;
    const next = at + retryDelayMs(attempts);
    const giveUp = next - d.createdAt > RETRY_WINDOW_MS;
    if (this.hooks.some((h) => h.id === w.id)) this.backoffUntil.set(w.id, Math.max(this.backoffUntil.get(w.id) ?? 0, giveUp ? at : next));
    log.debug({ webhook: w.id, delivery: d.id, attempts, error }, giveUp ? "webhook delivery failed for good" : "webhook delivery failed; will retry");
    await this.record(d.id, { state: giveUp ? "failed" : "pending", at, nextAttemptAt: giveUp ? at : next, status, error, durationMs });
  }

  private async record(id: number, r: Parameters<WebhookStore["recordAttempt"]>[1]): Promise<void> {
    try {
      await this.store.recordAttempt(id, r);
    } catch (err) {
      log.warn({ err: (err as Error).message, delivery: id }, "webhook attempt not recorded");
    }
  }

  /** Commits queued events, stops sending; deliveries in flight stay pending for the next start. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.flush();
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pruneTimer);
    clearInterval(this.reloadTimer);
    await this.unwatch?.().catch(() => undefined);
    for (const a of this.aborts) a.abort(new Error("wharf stopping"));
    await this.agent.close().catch(() => undefined);
    // Cluster mode: the rows this node claimed but did not finish go back to the other nodes now, not at the lease's end.
    await this.store.releaseClaims?.(this.now()).catch((err: Error) => log.warn({ err: err.message }, "webhook claims not handed back (they are taken again when their lease ends)"));
  }
}

export function newWebhookId(): string {
  return "wh_" + uuidv7().replace(/-/g, "");
}

async function readSome(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  let text = "";
  try {
    for await (const chunk of body) {
      text += chunk.toString("utf8");
      if (text.length >= MAX_ERROR_BODY_BYTES) break;
    }
  } catch {
    /* the answer's status is what counts */
  }
  body.destroy();
  return text.slice(0, MAX_ERROR_BODY_BYTES).replace(/\s+/g, " ").trim();
}

function describe(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { message?: string; code?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return [e.code, e.message, cause && cause !== e.code ? `(${cause})` : ""].filter(Boolean).join(" ").slice(0, 300);
}
