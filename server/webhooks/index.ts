// Webhooks: the outbox in the accounts database, its delivery, and the /v1/webhooks routes.
import type { FastifyInstance, preHandlerHookHandler } from "fastify";
import { errorBody } from "../../core/errors.ts";
import { moduleLogger } from "../../core/log.ts";
import type { Accounts } from "../accounts/index.ts";
import { SqliteStorage } from "../accounts/sqlite.ts";
import type { Config } from "../config/schema.ts";
import type { EventBus } from "../events/bus.ts";
import type { StreamCatalog } from "../streams/catalog.ts";
import { WebhookDelivery } from "./delivery.ts";
import { registerWebhookRoutes } from "./routes.ts";
import { WebhookStore } from "./store.ts";

const log = moduleLogger("webhooks");

export interface WebhooksOptions {
  config: Pick<Config, "webhookAllowPrivate" | "webhookTimeoutMs">;
  accounts: Accounts;
  bus: EventBus;
  store: StreamCatalog;
  preHandler: preHandlerHookHandler;
}

export function startWebhooks(app: FastifyInstance, opts: WebhooksOptions): { stop(): Promise<void> } {
  if (!(opts.accounts.storage instanceof SqliteStorage)) {
    // The outbox lives in the SQLite accounts database; other storage has no webhook tables yet.
    log.warn("webhooks are off: they need the SQLite accounts database (their outbox lives there)");
    app.all("/v1/webhooks*", { schema: { hide: true } }, async (_req, reply) => reply.code(501).send(errorBody(501, "webhooks need the SQLite accounts database (databaseUrl is set)")));
    return { stop: async () => undefined };
  }
  const store = new WebhookStore(opts.accounts.storage.db);
  const delivery = new WebhookDelivery(store, { allowPrivate: opts.config.webhookAllowPrivate, timeoutMs: opts.config.webhookTimeoutMs });
  registerWebhookRoutes(app, {
    store,
    delivery,
    preHandler: opts.preHandler,
    allowPrivate: opts.config.webhookAllowPrivate,
    streamExists: (id) => opts.store.get(id) !== undefined,
    audit: (by, action, target, details) => void opts.accounts.audit({ ...by, action, target, details }).catch(() => undefined),
  });
  delivery.start(opts.bus);
  return { stop: () => delivery.stop() };
}
