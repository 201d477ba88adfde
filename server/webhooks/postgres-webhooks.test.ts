// The webhook outbox on PostgreSQL: what only a shared outbox has to prove. Two senders never hold the
// same delivery at once, a lease that ends hands the row to the other, an event every node sees is
// kept once per webhook, a webhook created on one node is announced to the others, and two
// WebhookDelivery instances (two nodes) sending from one outbox deliver each event once.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { PostgresStorage } from "../accounts/postgres.ts";
import { EventBus } from "../events/bus.ts";
import { freshSchema, type TestSchema } from "../../test/support/postgres.ts";
import { requireServices } from "../../test/support/services.ts";
import { WebhookDelivery } from "./delivery.ts";
import { PostgresWebhookStore } from "./postgres-webhooks.ts";
import { verifySignature } from "./signature.ts";
import type { NewDelivery } from "./store.ts";

const pg = requireServices("WHARF_TEST_DATABASE_URL");

async function until(label: string, fn: () => boolean | Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("webhook outbox on PostgreSQL", { skip: pg.skip }, () => {
  let schema: TestSchema;
  let a: PostgresStorage;
  let b: PostgresStorage;
  before(async () => {
    schema = await freshSchema(pg.url("WHARF_TEST_DATABASE_URL"));
    a = await PostgresStorage.open(schema.url, { max: 4 });
    b = await PostgresStorage.open(schema.url, { max: 4 });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await schema?.drop();
  });

  const row = (webhookId: string, eventId: string, dedupeKey?: string): NewDelivery => ({
    webhookId, eventId, eventType: "stream.started", body: JSON.stringify({ id: eventId }), createdAt: Date.now() - 10, ...(dedupeKey ? { dedupeKey } : {}),
  });

  test("two senders claiming at once never get the same delivery; a lease that ends hands it over", async () => {
    const s1 = new PostgresWebhookStore(a.sql, "n1");
    const s2 = new PostgresWebhookStore(b.sql, "n2");
    await s1.create({ id: "wh_claim", url: "http://127.0.0.1:9/x", events: ["stream.started"], streamId: null, secret: "s", createdAt: Date.now() });
    await s1.enqueue(Array.from({ length: 40 }, (_, i) => row("wh_claim", `e${i}`)));
    const now = Date.now();
    const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? s1 : s2).claimDue("wh_claim", now, 5, new Set(), now + 60_000)));
    const ids = claims.flat().map((d) => d.id);
    assert.equal(ids.length, 40, "every row claimed once");
    assert.equal(new Set(ids).size, 40, "no row claimed twice");
    assert.deepEqual(await s2.claimDue("wh_claim", now, 5, new Set(), now + 60_000), [], "leased rows are not handed out");
    // A sender that died mid-attempt: its lease ends and the row is due again for another.
    const later = now + 61_000;
    assert.equal((await s2.claimDue("wh_claim", later, 100, new Set(), later + 60_000)).length, 40);
    await s1.recordAttempt(ids[0]!, { state: "delivered", at: later, nextAttemptAt: later, status: 204, error: null, durationMs: 3 });
    assert.equal((await s1.claimDue("wh_claim", later + 120_000, 100, new Set(), later + 180_000)).length, 39, "a delivered row is never claimed again");
    // A sender that stops hands its claims back: another takes them at once, not at the lease's end.
    await s1.releaseClaims(later + 120_000);
    assert.equal((await s2.claimDue("wh_claim", later + 120_000, 100, new Set(), later + 180_000)).length, 39);
  });

  test("an event every node sees (same dedupe key) is kept once per webhook; a deleted webhook's rows are skipped", async () => {
    const s1 = new PostgresWebhookStore(a.sql, "n1");
    const s2 = new PostgresWebhookStore(b.sql, "n2");
    await s1.create({ id: "wh_dd", url: "http://127.0.0.1:9/x", events: ["key.revoked"], streamId: null, secret: "s", createdAt: Date.now() });
    await Promise.all([s1.enqueue([row("wh_dd", "n1.1", "key.revoked:k1")]), s2.enqueue([row("wh_dd", "n2.7", "key.revoked:k1")])]);
    await s2.enqueue([row("wh_dd", "n2.8"), row("wh_gone", "n2.9")]);
    const rows = await s1.deliveries("wh_dd", 10);
    assert.equal(rows.length, 2);
    assert.equal(rows.filter((r) => r.eventId === "n1.1" || r.eventId === "n2.7").length, 1);
    assert.equal((await s1.deliveries("wh_gone", 10)).length, 0);
  });

  test("a webhook created or deleted on one node is announced to the others (LISTEN/NOTIFY)", async () => {
    const s1 = new PostgresWebhookStore(a.sql, "n1");
    const s2 = new PostgresWebhookStore(b.sql, "n2");
    let told = 0;
    const stop = await s2.watch(() => told++);
    try {
      await s1.create({ id: "wh_note", url: "http://127.0.0.1:9/x", events: ["stream.idle"], streamId: null, secret: "s", createdAt: Date.now() });
      await until("told of the new webhook", () => told >= 1);
      assert.equal((await s2.get("wh_note"))?.events[0], "stream.idle");
      assert.equal(await s1.delete("wh_note"), true);
      await until("told of the deletion", () => told >= 2);
    } finally {
      await stop();
    }
  });

  test("two nodes sending from one outbox deliver each event once, signed", async () => {
    const got: Array<{ id: string; body: string; sig: string }> = [];
    const server = createServer(async (req, res) => {
      let body = "";
      for await (const c of req) body += c;
      got.push({ id: (JSON.parse(body) as { id: string }).id, body, sig: String(req.headers["wharf-signature"]) });
      setTimeout(() => res.writeHead(204).end(), 30); // slow enough that both nodes pump meanwhile
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
      const s1 = new PostgresWebhookStore(a.sql, "n1");
      const s2 = new PostgresWebhookStore(b.sql, "n2");
      await s1.create({ id: "wh_two", url, events: ["stream.started"], streamId: null, secret: "whsec_two", createdAt: Date.now() });
      const bus1 = new EventBus();
      const bus2 = new EventBus();
      const d1 = new WebhookDelivery(s1, { allowPrivate: true, timeoutMs: 2000, eventIdPrefix: "n1." });
      const d2 = new WebhookDelivery(s2, { allowPrivate: true, timeoutMs: 2000, eventIdPrefix: "n2." });
      await d1.start(bus1);
      await d2.start(bus2);
      const data = { streamId: "s", name: "n", pipeline: "passthrough", protocol: "rtmp", ownerKeyId: null } as const;
      for (let i = 0; i < 15; i++) {
        bus1.publish("stream.started", data);
        bus2.publish("stream.started", data);
      }
      await until("30 deliveries", () => got.length >= 30, 10_000);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(got.length, 30, "no delivery sent twice");
      assert.equal(new Set(got.map((g) => g.id)).size, 30, "event ids stay unique across the nodes");
      for (const g of got) assert.ok(verifySignature("whsec_two", g.body, g.sig, Math.floor(Date.now() / 1000)));
      await until("all recorded delivered", async () => (await s1.deliveries("wh_two", 100)).every((d) => d.state === "delivered"));
      await d1.stop();
      await d2.stop();
    } finally {
      server.close();
    }
  });
});
