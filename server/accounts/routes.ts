// Fastify routes of the accounts API: /v1/keys, /v1/usage, /v1/audit.
//
//   import { registerAccountRoutes } from "./accounts/routes.ts";
//   await registerAccountRoutes(app, { accounts, authorize: guard.requireScope });
//
// The caller supplies `authorize(scope)` (normally createGuard(accounts).requireScope);
// it must set request.apiKey. Keys and audit need "admin"; usage accepts any key
// and shows a non-admin key only its own usage. The plugin is encapsulated: its
// error handler (400 {"error","message"} naming the field) applies to these routes only.
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest, preHandlerAsyncHookHandler } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type, type Static, type TSchema, type TUnsafe } from "typebox";
import { AccountsError, type Accounts, type UpdateKeyInput } from "./accounts.ts";
import type { RequiredScope } from "./auth.ts";
import { fromMicros, toMicros, type PriceBook } from "./pricing.ts";
import "./guard.ts";
import type { ApiKey, AuditEntry, UsageGroup, UsageGroupBy, UsageQuery, UsageRecord } from "./types.ts";

export interface AccountRoutesOptions {
  accounts: Accounts;
  authorize: (scope: RequiredScope) => preHandlerAsyncHookHandler;
}

// ---------------------------------------------------------------- schemas

/**
 * `T | null` as `{"type": [T, "null"]}`, not anyOf: with fastify's default Ajv
 * (coerceTypes) an anyOf of null and a number turns 0 into null or null into 0
 * (a spend cap of 0 would become "no cap"); a type list only coerces when no type matches.
 */
function Nullable<T extends TSchema>(t: T): TUnsafe<Static<T> | null> {
  const schema = t as unknown as { type: string };
  return Type.Unsafe<Static<T> | null>({ ...t, type: [schema.type, "null"] } as unknown as TSchema);
}

export const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() });

const ScopeSchema = Type.Enum(["admin", "streams", "ai"]);
const RateLimitIn = Type.Object(
  {
    requestsPerMinute: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    burst: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: "Default: ten seconds' worth (requestsPerMinute / 6)." })),
  },
  { additionalProperties: false },
);
const SpendCapsIn = Type.Object(
  {
    daily: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 1e9, description: "Operator currency per UTC day; null = no cap." }))),
    monthly: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 1e9, description: "Operator currency per UTC month; null = no cap." }))),
  },
  { additionalProperties: false },
);

const KeyFields = {
  name: Type.String({ minLength: 1, maxLength: 100 }),
  scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: 3 }),
  rateLimit: Type.Optional(Nullable(RateLimitIn)),
  ipAllowlist: Type.Optional(Nullable(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 100 }))),
  maxConcurrentStreams: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 100_000 }))),
  spendCaps: Type.Optional(SpendCapsIn),
};

export const CreateKeyBody = Type.Object(KeyFields, { additionalProperties: false });
export const PatchKeyBody = Type.Object(
  { ...KeyFields, name: Type.Optional(KeyFields.name), scopes: Type.Optional(KeyFields.scopes) },
  { additionalProperties: false, minProperties: 1 },
);

export const KeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String({ description: "First characters of the secret, for recognising it." }),
  scopes: Type.Array(ScopeSchema),
  ipAllowlist: Nullable(Type.Array(Type.String())),
  rateLimit: Nullable(Type.Object({ requestsPerMinute: Type.Integer(), burst: Type.Integer() })),
  maxConcurrentStreams: Nullable(Type.Integer()),
  activeStreams: Type.Integer(),
  spendCaps: Type.Object({ daily: Nullable(Type.Number()), monthly: Nullable(Type.Number()), currency: Type.String() }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  revokedAt: Nullable(Type.String()),
});

const CreatedKey = Type.Object({
  secret: Type.String({ description: "Shown once; store it now." }),
  key: KeyView,
});

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

const UsageQuerySchema = Type.Object({
  from: Type.Optional(Type.String({ description: "ISO 8601 date or date-time (inclusive). Default: start of the current UTC month." })),
  to: Type.Optional(Type.String({ description: "ISO 8601 date or date-time (exclusive). Default: now." })),
  key: Type.Optional(Type.String({ maxLength: 64 })),
  pipeline: Type.Optional(Type.String({ maxLength: 64 })),
  groupBy: Type.Optional(Type.Enum(["day", "pipeline", "key"])),
  format: Type.Optional(Type.Enum(["json", "csv"])),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
});

const UsageRecordView = Type.Object({
  id: Type.Integer(),
  time: Type.String(),
  kind: Type.String(),
  keyId: Type.String(),
  pipeline: Type.String(),
  model: Nullable(Type.String()),
  streamId: Nullable(Type.String()),
  requestId: Nullable(Type.String()),
  units: Type.Number(),
  durationSeconds: Type.Number(),
  orchestrator: Nullable(Type.String()),
  orchestratorCostWei: Type.String(),
  /** EV of the tickets actually sent for it, wei. */
  paidWei: Type.String(),
  /** paidWei in the operator currency (priceBook.ethPrice), and the charge minus it. */
  paidCost: Type.Number(),
  margin: Type.Number(),
  charge: Type.Number(),
  chargeMicros: Type.Integer(),
  currency: Type.String(),
});

const UsageGroupView = Type.Object({
  group: Type.String(),
  records: Type.Integer(),
  units: Type.Number(),
  durationSeconds: Type.Number(),
  orchestratorCostWei: Type.String(),
  paidWei: Type.String(),
  paidCost: Type.Number(),
  margin: Type.Number(),
  charge: Type.Number(),
  chargeMicros: Type.Integer(),
});

const UsageResponse = Type.Object({
  from: Type.String(),
  to: Type.String(),
  currency: Type.String(),
  groupBy: Type.Optional(Type.String()),
  groups: Type.Optional(Type.Array(UsageGroupView)),
  records: Type.Optional(Type.Array(UsageRecordView)),
  total: Type.Object({ records: Type.Integer(), charge: Type.Number(), chargeMicros: Type.Integer(), paidWei: Type.String(), paidCost: Type.Number(), margin: Type.Number() }),
});

const AuditQuerySchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  action: Type.Optional(Type.String({ maxLength: 64, description: 'Exact action, or a family like "key.*".' })),
  key: Type.Optional(Type.String({ maxLength: 64, description: "Entries whose actor or target is this key." })),
  before: Type.Optional(Type.Integer({ minimum: 1, description: "Paging: entries with id below this." })),
  from: Type.Optional(Type.String()),
  to: Type.Optional(Type.String()),
});

const AuditView = Type.Object({
  id: Type.Integer(),
  time: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  target: Nullable(Type.String()),
  details: Type.Record(Type.String(), Type.Unknown()),
  remoteIp: Nullable(Type.String()),
});

// ---------------------------------------------------------------- views

function iso(t: number): string {
  return new Date(t).toISOString();
}

function keyView(k: ApiKey, accounts: Accounts): Static<typeof KeyView> {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes,
    ipAllowlist: k.ipAllowlist,
    rateLimit: k.rateLimit,
    maxConcurrentStreams: k.maxConcurrentStreams,
    activeStreams: accounts.concurrency.count(k.id),
    spendCaps: {
      daily: k.dailyCapMicros === null ? null : fromMicros(k.dailyCapMicros),
      monthly: k.monthlyCapMicros === null ? null : fromMicros(k.monthlyCapMicros),
      currency: accounts.priceBook.currency,
    },
    createdAt: iso(k.createdAt),
    updatedAt: iso(k.updatedAt),
    revokedAt: k.revokedAt === null ? null : iso(k.revokedAt),
  };
}

/** What was paid to orchestrators, in wei and in the operator currency, and the margin it leaves. */
function costView(book: PriceBook, paidWei: string, chargeMicros: number): { paidWei: string; paidCost: number; margin: number } {
  const paidMicros = book.weiToMicros(BigInt(paidWei));
  return { paidWei, paidCost: fromMicros(paidMicros), margin: fromMicros(chargeMicros - paidMicros) };
}

function usageView(book: PriceBook, r: UsageRecord): Static<typeof UsageRecordView> {
  return {
    id: r.id, time: iso(r.ts), kind: r.kind, keyId: r.keyId, pipeline: r.pipeline, model: r.model, streamId: r.streamId,
    requestId: r.requestId, units: r.units, durationSeconds: r.durationMs / 1000, orchestrator: r.orchestrator,
    orchestratorCostWei: r.orchestratorCostWei, ...costView(book, r.paidWei, r.chargeMicros),
    charge: fromMicros(r.chargeMicros), chargeMicros: r.chargeMicros, currency: r.currency,
  };
}

function groupView(book: PriceBook, g: UsageGroup): Static<typeof UsageGroupView> {
  return {
    group: g.group, records: g.records, units: g.units, durationSeconds: g.durationMs / 1000,
    orchestratorCostWei: g.orchestratorCostWei, ...costView(book, g.paidWei, g.chargeMicros),
    charge: fromMicros(g.chargeMicros), chargeMicros: g.chargeMicros,
  };
}

function auditView(e: AuditEntry): Static<typeof AuditView> {
  return { id: e.id, time: iso(e.ts), actor: e.actor, action: e.action, target: e.target, details: e.details, remoteIp: e.remoteIp };
}

function toUpdate(body: Partial<Static<typeof CreateKeyBody>>): UpdateKeyInput {
  const u: UpdateKeyInput = {};
  if (body.name !== undefined) u.name = body.name;
  if (body.scopes !== undefined) u.scopes = body.scopes;
  if (body.rateLimit !== undefined) u.rateLimit = body.rateLimit;
  if (body.ipAllowlist !== undefined) u.ipAllowlist = body.ipAllowlist;
  if (body.maxConcurrentStreams !== undefined) u.maxConcurrentStreams = body.maxConcurrentStreams;
  if (body.spendCaps?.daily !== undefined) u.dailyCapMicros = body.spendCaps.daily === null ? null : toMicros(body.spendCaps.daily);
  if (body.spendCaps?.monthly !== undefined) u.monthlyCapMicros = body.spendCaps.monthly === null ? null : toMicros(body.spendCaps.monthly);
  return u;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly error: string, message: string) {
    super(message);
  }
}

/** Parses an ISO 8601 date ("2024-05-01", UTC midnight) or date-time; throws a 400 naming the field. */
export function parseTime(value: string | undefined, field: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    throw new HttpError(400, "invalid_request", `querystring/${field} must be an ISO 8601 date or date-time (e.g. 2024-05-01 or 2024-05-01T12:00:00Z)`);
  }
  const withZone = /T|\s/.test(value) && !/(Z|[+-]\d{2}:?\d{2})$/.test(value) ? value + "Z" : value;
  const t = Date.parse(withZone);
  if (Number.isNaN(t)) throw new HttpError(400, "invalid_request", `querystring/${field} is not a valid date`);
  return t;
}

function wantsCsv(request: FastifyRequest, format: string | undefined): boolean {
  if (format) return format === "csv";
  const accept = request.headers.accept ?? "";
  return /\btext\/csv\b/i.test(accept) && !/\bapplication\/json\b/i.test(accept);
}

// ---------------------------------------------------------------- plugin

export const accountRoutes: FastifyPluginAsync<AccountRoutesOptions> = async (instance, opts) => {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  const { accounts, authorize } = opts;
  const admin = authorize("admin");
  const anyKey = authorize("any");
  const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 429: ErrorBody };
  const actorOf = (req: FastifyRequest) => ({ actor: req.apiKey?.id ?? "system", remoteIp: req.ip });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; code?: string }, _req, reply) => {
    if (err instanceof HttpError) return reply.code(err.status).send({ error: err.error, message: err.message });
    if (err instanceof AccountsError) {
      const status = err.code === "not_found" ? 404 : err.code === "conflict" ? 409 : 400;
      const message = err.field && !err.message.includes(err.field) ? `${err.field}: ${err.message}` : err.message;
      return reply.code(status).send({ error: err.code, message });
    }
    if (err.validation) return reply.code(400).send({ error: "invalid_request", message: err.message });
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) reply.log.error({ err }, "accounts route failed");
    return reply.code(status).send({ error: status === 500 ? "internal_error" : (err.code ?? "bad_request").toLowerCase(), message: err.message });
  });

  async function activeAdmins(excluding: string): Promise<number> {
    return (await accounts.listKeys()).filter((k) => k.id !== excluding && k.scopes.includes("admin")).length;
  }

  app.post("/v1/keys", {
    preHandler: admin,
    schema: { summary: "Create an API key (the secret is returned once)", tags: ["keys"], body: CreateKeyBody, response: { 201: CreatedKey, ...errors } },
  }, async (req, reply) => {
    const b = req.body;
    const u = toUpdate(b);
    const { key, secret } = await accounts.createKey({ ...u, name: b.name, scopes: b.scopes }, actorOf(req));
    reply.header("cache-control", "no-store");
    return reply.code(201).send({ secret, key: keyView(key, accounts) });
  });

  app.get("/v1/keys", {
    preHandler: admin,
    schema: {
      summary: "List API keys", tags: ["keys"],
      querystring: Type.Object({ includeRevoked: Type.Optional(Type.Boolean()) }),
      response: { 200: Type.Object({ keys: Type.Array(KeyView) }), ...errors },
    },
  }, async (req) => {
    const keys = await accounts.listKeys({ includeRevoked: req.query.includeRevoked ?? false });
    return { keys: keys.map((k) => keyView(k, accounts)) };
  });

  app.get("/v1/keys/:id", {
    preHandler: admin,
    schema: { summary: "Get an API key", tags: ["keys"], params: IdParams, response: { 200: KeyView, ...errors } },
  }, async (req) => {
    const key = await accounts.getKey(req.params.id);
    if (!key) throw new HttpError(404, "not_found", `API key ${req.params.id} not found`);
    return keyView(key, accounts);
  });

  app.patch("/v1/keys/:id", {
    preHandler: admin,
    schema: { summary: "Change a key's name, scopes or limits (null clears a limit)", tags: ["keys"], params: IdParams, body: PatchKeyBody, response: { 200: KeyView, ...errors } },
  }, async (req) => {
    const u = toUpdate(req.body);
    if (u.scopes && !u.scopes.includes("admin")) {
      const current = await accounts.getKey(req.params.id);
      if (current?.scopes.includes("admin") && current.revokedAt === null && (await activeAdmins(current.id)) === 0) {
        throw new HttpError(409, "conflict", "scopes: cannot remove the admin scope from the last active admin key");
      }
    }
    return keyView(await accounts.updateKey(req.params.id, u, actorOf(req)), accounts);
  });

  app.delete("/v1/keys/:id", {
    preHandler: admin,
    schema: { summary: "Revoke an API key (its live streams are disconnected)", tags: ["keys"], params: IdParams, response: { 200: KeyView, ...errors } },
  }, async (req) => {
    const current = await accounts.getKey(req.params.id);
    if (!current) throw new HttpError(404, "not_found", `API key ${req.params.id} not found`);
    if (current.revokedAt === null && current.scopes.includes("admin") && (await activeAdmins(current.id)) === 0) {
      throw new HttpError(409, "conflict", "id: cannot revoke the last active admin key (create another admin key first)");
    }
    return keyView(await accounts.revokeKey(req.params.id, actorOf(req)), accounts);
  });

  app.get("/v1/usage", {
    preHandler: anyKey,
    schema: {
      summary: "Usage and charges between from and to, optionally grouped; CSV with format=csv or Accept: text/csv",
      tags: ["usage"], querystring: UsageQuerySchema,
      response: { 200: UsageResponse, ...errors },
    },
  }, async (req, reply) => {
    const q = req.query;
    const caller = req.apiKey;
    let keyId = q.key;
    if (caller && !caller.scopes.includes("admin")) {
      if (keyId !== undefined && keyId !== caller.id) throw new HttpError(403, "forbidden", "key: a non-admin key can only read its own usage");
      keyId = caller.id;
    }
    const now = Date.now();
    const from = parseTime(q.from, "from") ?? Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
    const to = parseTime(q.to, "to") ?? now + 1;
    if (to <= from) throw new HttpError(400, "invalid_request", "querystring/to must be after querystring/from");
    const query: UsageQuery = { from, to, keyId, pipeline: q.pipeline, limit: q.limit };
    const by = q.groupBy as UsageGroupBy | undefined;
    if (wantsCsv(req, q.format)) {
      const csv = await accounts.usageCsv(query, by);
      const name = `wharf-usage-${iso(from).slice(0, 10)}-${iso(to).slice(0, 10)}${by ? "-by-" + by : ""}.csv`;
      return reply.type("text/csv; charset=utf-8").header("content-disposition", `attachment; filename="${name}"`).send(csv as never);
    }
    const book = accounts.priceBook;
    const base = { from: iso(from), to: iso(to), currency: book.currency };
    if (by) {
      const groups = await accounts.groupUsage(query, by);
      const micros = groups.reduce((s, g) => s + g.chargeMicros, 0);
      const paid = groups.reduce((s, g) => s + BigInt(g.paidWei), 0n).toString();
      return {
        ...base, groupBy: by, groups: groups.map((g) => groupView(book, g)),
        total: { records: groups.reduce((s, g) => s + g.records, 0), charge: fromMicros(micros), chargeMicros: micros, ...costView(book, paid, micros) },
      };
    }
    const records = await accounts.listUsage(query);
    const micros = records.reduce((s, r) => s + r.chargeMicros, 0);
    const paid = records.reduce((s, r) => s + BigInt(r.paidWei), 0n).toString();
    return {
      ...base, records: records.map((r) => usageView(book, r)),
      total: { records: records.length, charge: fromMicros(micros), chargeMicros: micros, ...costView(book, paid, micros) },
    };
  });

  app.get("/v1/audit", {
    preHandler: admin,
    schema: { summary: "Audit log, newest first", tags: ["audit"], querystring: AuditQuerySchema, response: { 200: Type.Object({ entries: Type.Array(AuditView) }), ...errors } },
  }, async (req) => {
    const q = req.query;
    const entries = await accounts.queryAudit({
      limit: q.limit ?? 100, action: q.action, keyId: q.key, before: q.before, from: parseTime(q.from, "from"), to: parseTime(q.to, "to"),
    });
    return { entries: entries.map(auditView) };
  });
};

/** Registers the accounts routes (encapsulated) on `app`. */
export async function registerAccountRoutes(app: FastifyInstance, opts: AccountRoutesOptions): Promise<void> {
  await app.register(accountRoutes, opts);
}
