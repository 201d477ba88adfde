// GET /v1/events: the event bus as Server-Sent Events (admin). On connect the kept events are
// replayed (only those after Last-Event-ID when the client sends one), then new ones follow.
// Each event is one `data:` line of JSON {id, type, at, data} with the same `id:`.
import type { FastifyInstance, preHandlerHookHandler } from "fastify";
import { Type } from "typebox";
import { errorBody } from "../../core/errors.ts";
import { SseConnection, sseConnections } from "../api/sse.ts";
import type { EventBus } from "./bus.ts";
import { isWharfEventType, WHARF_EVENT_TYPES } from "./types.ts";

export interface EventRoutesOptions {
  bus: EventBus;
  preHandler: preHandlerHookHandler;
  maxBufferedBytes?: number;
}

/** `?types=a,b` as a set (undefined = all), or the first unknown name. */
export function parseTypes(text: string | undefined): { ok: true; types?: Set<string> } | { ok: false; unknown: string } {
  if (!text) return { ok: true };
  const types = new Set<string>();
  for (const t of text.split(",").map((x) => x.trim()).filter(Boolean)) {
    if (!isWharfEventType(t)) return { ok: false, unknown: t };
    types.add(t);
  }
  return { ok: true, types: types.size ? types : undefined };
}

/** A Last-Event-ID value as an event id (undefined when absent or not a number). */
export function parseLastEventId(v: unknown): number | undefined {
  const text = Array.isArray(v) ? v[0] : v;
  if (typeof text !== "string" || !/^\d{1,16}$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

export function registerEventRoutes(app: FastifyInstance, opts: EventRoutesOptions): void {
  const open = sseConnections(app);
  app.get(
    "/v1/events",
    {
      preHandler: opts.preHandler,
      schema: {
        summary: "Wharf's events as Server-Sent Events (admin): replay of recent events, then live",
        tags: ["events"],
        querystring: Type.Object({
          types: Type.Optional(Type.String({ maxLength: 1000, description: `Comma list of event types (default all): ${WHARF_EVENT_TYPES.join(", ")}` })),
        }),
      },
    },
    async (req, reply) => {
      const q = req.query as { types?: string };
      const types = parseTypes(q.types);
      if (!types.ok) return reply.code(400).send(errorBody(400, `types: unknown event type "${types.unknown}" (known: ${WHARF_EVENT_TYPES.join(", ")})`));
      const afterId = parseLastEventId(req.headers["last-event-id"]);
      const conn = new SseConnection(req, reply, { endpoint: "events", maxBufferedBytes: opts.maxBufferedBytes });
      open.add(conn);
      const send = (e: { id: number; type: string }) => conn.send(JSON.stringify(e), { id: e.id });
      for (const e of opts.bus.recent({ afterId, types: types.types })) if (!send(e)) break;
      const off = opts.bus.subscribe((e) => {
        if (!types.types || types.types.has(e.type)) send(e);
      });
      conn.onClose(() => {
        off();
        open.delete(conn);
      });
      return reply;
    },
  );
}
