// Webhooks: the outbox in the accounts database (SQLite on one node, PostgreSQL in cluster mode),
// its delivery, and the /v1/webhooks routes.
import type { FastifyInstance, preHandlerHookHandler } from "fastify";
import { randomBytes } from "node:crypto";
import { moduleLogger } from "../../core/log.ts";
import type { Accounts } from "../accounts/index.ts";
import { PostgresStorage } from "../accounts/postgres.ts";
import { SqliteStorage } from "../accounts/sqlite.ts";
import type { Config } from "../config/schema.ts";
import type { EventBus } from "../events/bus.ts";
import type { StreamCatalog } from "../streams/catalog.ts";
import { WebhookDelivery } from "./delivery.ts";
import { PostgresWebhookStore } from "./postgres-webhooks.ts";
import { registerWebhookRoutes } from "./routes.ts";
import { SqliteWebhookStore, type WebhookStore } from "./store.ts";

export interface WebhooksOptions {
  config: Pick<Config, "webhookAllowPrivate" | "webhookTimeoutMs">;
  accounts: Accounts;
  bus: EventBus;
  store: StreamCatalog;
  preHandler: preHandlerHookHandler;
}

const log = moduleLogger("webhooks");

/** The outbox and who this process is to it (cluster mode: a sender id, also the prefix of its event ids). */
function webhookStore(accounts: Accounts): { store: WebhookStore; eventIdPrefix?: string } {
  const storage = accounts.storage;
  if (storage instanceof SqliteStorage) return { store: new SqliteWebhookStore(storage.db) };
  if (storage instanceof PostgresStorage) {
    // Each process numbers its own events: a per-process tag keeps ids unique across the nodes.
    const sender = `n${randomBytes(5).toString("hex")}`;
    return { store: new PostgresWebhookStore(storage.sql, sender), eventIdPrefix: `${sender}.` };
  }
  throw new Error("webhooks: unknown accounts storage (neither SQLite nor PostgreSQL)");
}

export function startWebhooks(app: FastifyInstance, opts: WebhooksOptions): { stop(): Promise<void> } {
  const { store, eventIdPrefix } = webhookStore(opts.accounts);
  const delivery = new WebhookDelivery(store, {
    allowPrivate: opts.config.webhookAllowPrivate,
    timeoutMs: opts.config.webhookTimeoutMs,
    ...(eventIdPrefix ? { eventIdPrefix } : {}),
  });
  registerWebhookRoutes(app, {
    store,
    delivery,
    preHandler: opts.preHandler,
    allowPrivate: opts.config.webhookAllowPrivate,
    streamExists: async (id) => opts.store.get(id) !== undefined || (await opts.accounts.getStream(id).catch(() => undefined))?.deletedAt === null,
    audit: (by, action, target, details) => void opts.accounts.audit({ ...by, action, target, details }).catch(() => undefined),
  });
  const started = delivery.start(opts.bus).catch((err: Error) => log.error({ err: err.message }, "webhook delivery did not start"));
  return { stop: async () => { await started; await delivery.stop(); } };
}
