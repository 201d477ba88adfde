// Webhooks and their outbox in the accounts database: one delivery row per event and webhook,
// pending until a 2xx, retried with backoff, failed after the retry window. Two stores: SQLite
// (one node, below) and PostgreSQL (cluster mode, postgres-webhooks.ts), behind WebhookStore.
import type { DB } from "../accounts/sqlite-schema.ts";

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  streamId: string | null;
  secret: string;
  createdAt: number;
}

export type DeliveryState = "pending" | "delivered" | "failed";

export interface Delivery {
  id: number;
  webhookId: string;
  eventId: string;
  eventType: string;
  body: string;
  createdAt: number;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: number;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  lastDurationMs: number | null;
}

export interface NewDelivery {
  webhookId: string;
  eventId: string;
  /**
   * One row per webhook and dedupe key (cluster mode): an event every node sees, such as a key
   * revoked, carries the same key on each, so only the first node's row is kept. Default: eventId.
   */
  dedupeKey?: string;
  eventType: string;
  body: string;
  createdAt: number;
}

export interface AttemptResult {
  state: DeliveryState;
  at: number;
  nextAttemptAt: number;
  status: number | null;
  error: string | null;
  durationMs: number;
}

interface WebhookRow { id: string; url: string; events: string; stream_id: string | null; secret: string; created_at: number }
interface DeliveryRow {
  id: number; webhook_id: string; event_id: string; event_type: string; body: string; created_at: number; state: DeliveryState;
  attempts: number; next_attempt_at: number; last_attempt_at: number | null; last_status: number | null; last_error: string | null; last_duration_ms: number | null;
}

const webhookFromRow = (r: WebhookRow): Webhook => ({
  id: r.id, url: r.url, events: JSON.parse(r.events) as string[], streamId: r.stream_id, secret: r.secret, createdAt: r.created_at,
});
const deliveryFromRow = (r: DeliveryRow): Delivery => ({
  id: r.id, webhookId: r.webhook_id, eventId: r.event_id, eventType: r.event_type, body: r.body, createdAt: r.created_at, state: r.state,
  attempts: r.attempts, nextAttemptAt: r.next_attempt_at, lastAttemptAt: r.last_attempt_at, lastStatus: r.last_status,
  lastError: r.last_error, lastDurationMs: r.last_duration_ms,
});

/** Where webhooks and their outbox live (SQLite for one node, PostgreSQL for a cluster). */
export interface WebhookStore {
  create(w: Webhook): Promise<Webhook>;
  list(): Promise<Webhook[]>;
  get(id: string): Promise<Webhook | undefined>;
  /** Deletes the webhook and its deliveries (pending ones are dropped). */
  delete(id: string): Promise<boolean>;
  /** Appends deliveries in one transaction (one commit for a burst of events). */
  enqueue(rows: readonly NewDelivery[]): Promise<void>;
  /**
   * Takes up to `limit` pending deliveries of one webhook that are due, oldest first, for this
   * sender: none is handed to another sender until `leaseUntil` (a sender that dies mid-attempt
   * leaves its rows to be taken again then). `exclude`: this sender's own rows in flight.
   */
  claimDue(webhookId: string, now: number, limit: number, exclude: ReadonlySet<number>, leaseUntil: number): Promise<Delivery[]>;
  /** When the next pending delivery of any webhook is due (undefined: none pending). */
  nextDueAt(): Promise<number | undefined>;
  recordAttempt(id: number, a: AttemptResult): Promise<void>;
  /** The latest deliveries of a webhook, newest first. */
  deliveries(webhookId: string, limit: number): Promise<Delivery[]>;
  /** Drops finished deliveries created before `before` (pending ones are kept whatever their age). */
  prune(before: number): Promise<number>;
  /** Hands this sender's claimed, unrecorded rows back at once (stopping: another node may send them now). */
  releaseClaims?(now: number): Promise<void>;
  /** Calls `fn` when webhooks are created or deleted elsewhere (another node); returns the stop. */
  watch?(fn: () => void): Promise<() => Promise<void>>;
}

/** One node: the outbox in the SQLite accounts database (synchronous underneath). */
export class SqliteWebhookStore implements WebhookStore {
  constructor(private readonly db: DB) {}

  async create(w: Webhook): Promise<Webhook> {
    this.db.prepare("INSERT INTO webhooks (id, url, events, stream_id, secret, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(w.id, w.url, JSON.stringify(w.events), w.streamId, w.secret, w.createdAt);
    return w;
  }

  async list(): Promise<Webhook[]> {
    return (this.db.prepare("SELECT * FROM webhooks ORDER BY created_at, id").all() as WebhookRow[]).map(webhookFromRow);
  }

  async get(id: string): Promise<Webhook | undefined> {
    const r = this.db.prepare("SELECT * FROM webhooks WHERE id = ?").get(id) as WebhookRow | undefined;
    return r && webhookFromRow(r);
  }

  async delete(id: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.db.prepare("DELETE FROM webhook_deliveries WHERE webhook_id = ?").run(id);
      return this.db.prepare("DELETE FROM webhooks WHERE id = ?").run(id).changes > 0;
    })();
  }

  async enqueue(rows: readonly NewDelivery[]): Promise<void> {
    if (!rows.length) return;
    const insert = this.db.prepare(
      "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, created_at, state, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
    );
    this.db.transaction(() => {
      for (const r of rows) insert.run(r.webhookId, r.eventId, r.eventType, r.body, r.createdAt, r.createdAt);
    })();
  }

  /** One sender: its in-flight rows (`exclude`) are the only ones to skip; no lease is needed. */
  async claimDue(webhookId: string, now: number, limit: number, exclude: ReadonlySet<number>): Promise<Delivery[]> {
    const rows = this.db.prepare(
      "SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
    ).all(webhookId, now, limit + exclude.size) as DeliveryRow[];
    return rows.filter((r) => !exclude.has(r.id)).slice(0, limit).map(deliveryFromRow);
  }

  async nextDueAt(): Promise<number | undefined> {
    const r = this.db.prepare("SELECT MIN(next_attempt_at) AS t FROM webhook_deliveries WHERE state = 'pending'").get() as { t: number | null };
    return r.t ?? undefined;
  }

  async recordAttempt(id: number, a: AttemptResult): Promise<void> {
    this.db.prepare(
      `UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?, last_attempt_at = ?,
         last_status = ?, last_error = ?, last_duration_ms = ? WHERE id = ?`,
    ).run(a.state, a.nextAttemptAt, a.at, a.status, a.error, a.durationMs, id);
  }

  async deliveries(webhookId: string, limit: number): Promise<Delivery[]> {
    return (this.db.prepare("SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT ?").all(webhookId, limit) as DeliveryRow[]).map(deliveryFromRow);
  }

  async prune(before: number): Promise<number> {
    return this.db.prepare("DELETE FROM webhook_deliveries WHERE state != 'pending' AND created_at < ?").run(before).changes;
  }
}
