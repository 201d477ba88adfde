// Webhooks and their outbox in PostgreSQL (cluster mode): every node enqueues the events it sees and
// every node sends what is due, each delivery attempt claimed by one node at a time
// (SELECT ... FOR UPDATE SKIP LOCKED, then a lease in next_attempt_at: a node that dies mid-attempt
// leaves the row to be taken again when the lease ends).
import type postgres from "postgres";
import type { Sql } from "../accounts/postgres-schema.ts";
import type { AttemptResult, Delivery, DeliveryState, NewDelivery, Webhook, WebhookStore } from "./store.ts";

/** The NOTIFY channel that tells every node the webhook list changed. */
export const WEBHOOKS_CHANNEL = "wharf_webhooks_changed";

interface WebhookRow { id: string; url: string; events: string[]; stream_id: string | null; secret: string; created_at: number }
interface DeliveryRow {
  id: number; webhook_id: string; event_id: string; event_type: string; body: string; created_at: number; state: DeliveryState;
  attempts: number; next_attempt_at: number; last_attempt_at: number | null; last_status: number | null; last_error: string | null; last_duration_ms: number | null;
}

const webhookFromRow = (r: WebhookRow): Webhook => ({
  id: r.id, url: r.url, events: r.events, streamId: r.stream_id, secret: r.secret, createdAt: r.created_at,
});
const deliveryFromRow = (r: DeliveryRow): Delivery => ({
  id: r.id, webhookId: r.webhook_id, eventId: r.event_id, eventType: r.event_type, body: r.body, createdAt: r.created_at, state: r.state,
  attempts: r.attempts, nextAttemptAt: r.next_attempt_at, lastAttemptAt: r.last_attempt_at, lastStatus: r.last_status,
  lastError: r.last_error, lastDurationMs: r.last_duration_ms,
});

export class PostgresWebhookStore implements WebhookStore {
  /** `sender`: who claims rows (the node id), kept on the row while it is leased. */
  constructor(private readonly sql: Sql, private readonly sender: string) {}

  async create(w: Webhook): Promise<Webhook> {
    await this.sql.begin(async (tx) => {
      await tx`INSERT INTO webhooks (id, url, events, stream_id, secret, created_at)
        VALUES (${w.id}, ${w.url}, ${tx.json(w.events as postgres.JSONValue) as unknown as string}, ${w.streamId}, ${w.secret}, ${w.createdAt})`;
      await tx`SELECT pg_notify(${WEBHOOKS_CHANNEL}, ${w.id})`;
    });
    return w;
  }

  async list(): Promise<Webhook[]> {
    return (await this.sql<WebhookRow[]>`SELECT * FROM webhooks ORDER BY created_at, id`).map(webhookFromRow);
  }

  async get(id: string): Promise<Webhook | undefined> {
    const [r] = await this.sql<WebhookRow[]>`SELECT * FROM webhooks WHERE id = ${id}`;
    return r && webhookFromRow(r);
  }

  async delete(id: string): Promise<boolean> {
    return this.sql.begin(async (tx) => {
      // Deliveries go with it (ON DELETE CASCADE); one in flight on another node records nothing.
      const r = await tx`DELETE FROM webhooks WHERE id = ${id}`;
      if (r.count > 0) await tx`SELECT pg_notify(${WEBHOOKS_CHANNEL}, ${id})`;
      return r.count > 0;
    }) as Promise<boolean>;
  }

  async enqueue(rows: readonly NewDelivery[]): Promise<void> {
    if (!rows.length) return;
    await this.sql.begin(async (tx) => {
      for (const r of rows) {
        // A webhook deleted meanwhile (no row to refer to) must not fail the burst: skipped.
        await tx`
          INSERT INTO webhook_deliveries (webhook_id, event_id, dedupe_key, event_type, body, created_at, state, next_attempt_at)
          SELECT ${r.webhookId}, ${r.eventId}, ${r.dedupeKey ?? r.eventId}, ${r.eventType}, ${r.body}, ${r.createdAt}, 'pending', ${r.createdAt}
          WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ${r.webhookId})
          ON CONFLICT (webhook_id, dedupe_key) DO NOTHING`;
      }
    });
  }

  async claimDue(webhookId: string, now: number, limit: number, _exclude: ReadonlySet<number>, leaseUntil: number): Promise<Delivery[]> {
    if (limit <= 0) return [];
    const rows = await this.sql<DeliveryRow[]>`
      UPDATE webhook_deliveries d SET next_attempt_at = ${leaseUntil}, leased_by = ${this.sender}
      FROM (
        SELECT id FROM webhook_deliveries
        WHERE webhook_id = ${webhookId} AND state = 'pending' AND next_attempt_at <= ${now}
        ORDER BY next_attempt_at, id LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      ) due
      WHERE d.id = due.id
      RETURNING d.*`;
    return rows.sort((a, b) => a.id - b.id).map(deliveryFromRow);
  }

  async nextDueAt(): Promise<number | undefined> {
    const [r] = await this.sql<{ t: number | null }[]>`SELECT MIN(next_attempt_at) AS t FROM webhook_deliveries WHERE state = 'pending'`;
    return r?.t ?? undefined;
  }

  async recordAttempt(id: number, a: AttemptResult): Promise<void> {
    await this.sql`
      UPDATE webhook_deliveries SET state = ${a.state}, attempts = attempts + 1, next_attempt_at = ${a.nextAttemptAt}, leased_by = NULL,
        last_attempt_at = ${a.at}, last_status = ${a.status}, last_error = ${a.error}, last_duration_ms = ${a.durationMs}
      WHERE id = ${id}`;
  }

  async deliveries(webhookId: string, limit: number): Promise<Delivery[]> {
    return (await this.sql<DeliveryRow[]>`SELECT * FROM webhook_deliveries WHERE webhook_id = ${webhookId} ORDER BY id DESC LIMIT ${limit}`).map(deliveryFromRow);
  }

  async prune(before: number): Promise<number> {
    return (await this.sql`DELETE FROM webhook_deliveries WHERE state != 'pending' AND created_at < ${before}`).count;
  }

  async releaseClaims(now: number): Promise<void> {
    await this.sql`UPDATE webhook_deliveries SET next_attempt_at = ${now}, leased_by = NULL WHERE leased_by = ${this.sender} AND state = 'pending'`;
  }

  /** LISTEN on the change channel (the driver keeps one connection for it and reconnects). */
  async watch(fn: () => void): Promise<() => Promise<void>> {
    const l = await this.sql.listen(WEBHOOKS_CHANNEL, () => fn());
    return () => l.unlisten();
  }
}
