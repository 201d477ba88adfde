// /v1/webhooks (admin): create (the signing secret is in this answer only), list, delete, and
// the latest delivery attempts of one webhook.
import type { FastifyInstance, preHandlerHookHandler } from "fastify";
import { Type, type Static } from "typebox";
import { errorBody } from "../../core/errors.ts";
import { actorOf } from "../api/auth.ts";
import { isWharfEventType, WHARF_EVENT_TYPES } from "../events/types.ts";
import type { WebhookDelivery } from "./delivery.ts";
import { newWebhookId } from "./delivery.ts";
import { newWebhookSecret } from "./signature.ts";
import type { Delivery, Webhook, WebhookStore } from "./store.ts";
import { targetUrlProblem } from "./target-url.ts";

export interface WebhookRoutesOptions {
  store: WebhookStore;
  delivery: WebhookDelivery;
  preHandler: preHandlerHookHandler;
  allowPrivate: boolean;
  /** True when a stream with this id exists (a webhook may be limited to one stream). */
  streamExists: (id: string) => boolean | Promise<boolean>;
  audit?: (by: { actor: string; remoteIp: string }, action: string, target: string, details: Record<string, unknown>) => void;
}

const WebhookId = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" });
const CreateBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048 }),
    events: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 32 }),
    streamId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);

function webhookView(w: Webhook): Record<string, unknown> {
  return { id: w.id, url: w.url, events: w.events, streamId: w.streamId, createdAt: new Date(w.createdAt).toISOString() };
}

function deliveryView(d: Delivery): Record<string, unknown> {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    id: d.id, eventId: d.eventId, type: d.eventType, state: d.state, attempts: d.attempts, createdAt: iso(d.createdAt),
    lastAttemptAt: iso(d.lastAttemptAt), nextAttemptAt: d.state === "pending" ? iso(d.nextAttemptAt) : null,
    status: d.lastStatus, error: d.lastError, durationMs: d.lastDurationMs,
  };
}

export function registerWebhookRoutes(app: FastifyInstance, opts: WebhookRoutesOptions): void {
  const { store, preHandler } = opts;
  app.post("/v1/webhooks", { preHandler, schema: { summary: "Create a webhook (admin); the signing secret is shown once", tags: ["webhooks"], body: CreateBody } }, async (req, reply) => {
    const body = req.body as Static<typeof CreateBody>;
    const problem = targetUrlProblem(body.url, opts.allowPrivate);
    if (problem) return reply.code(400).send(errorBody(400, problem));
    const unknown = body.events.find((e) => !isWharfEventType(e));
    if (unknown) return reply.code(400).send(errorBody(400, `events: unknown event type "${unknown}" (known: ${WHARF_EVENT_TYPES.join(", ")})`));
    if (body.streamId && !(await opts.streamExists(body.streamId))) return reply.code(400).send(errorBody(400, `streamId: stream ${body.streamId} not found`));
    const w = await store.create({ id: newWebhookId(), url: body.url, events: [...new Set(body.events)], streamId: body.streamId ?? null, secret: newWebhookSecret(), createdAt: Date.now() });
    await opts.delivery.reload();
    opts.audit?.(actorOf(req), "webhook.created", w.id, { url: w.url, events: w.events, streamId: w.streamId });
    return reply.code(201).send({ ...webhookView(w), secret: w.secret });
  });

  app.get("/v1/webhooks", { preHandler, schema: { summary: "List webhooks (admin; secrets are not shown)", tags: ["webhooks"] } }, async () => ({
    webhooks: (await store.list()).map(webhookView),
  }));

  app.delete("/v1/webhooks/:id", { preHandler, schema: { summary: "Delete a webhook and its pending deliveries (admin)", tags: ["webhooks"], params: Type.Object({ id: WebhookId }) } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    if (!(await store.delete(id))) return reply.code(404).send(errorBody(404, `webhook ${id} not found`));
    await opts.delivery.reload();
    opts.audit?.(actorOf(req), "webhook.deleted", id, {});
    return reply.code(204).send();
  });

  app.get(
    "/v1/webhooks/:id/deliveries",
    {
      preHandler,
      schema: {
        summary: "A webhook's latest deliveries: state, attempts, last status and error (admin)",
        tags: ["webhooks"],
        params: Type.Object({ id: WebhookId }),
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }),
      },
    },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      if (!(await store.get(id))) return reply.code(404).send(errorBody(404, `webhook ${id} not found`));
      const { limit } = req.query as { limit?: number };
      return { deliveries: (await store.deliveries(id, limit ?? 100)).map(deliveryView) };
    },
  );
}
