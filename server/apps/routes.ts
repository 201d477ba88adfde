// The customer API for apps: GET /v1/apps; persistent sessions (POST/GET/DELETE
// /v1/apps/{app}/sessions[/{id}], ANY .../sessions/{id}/app/{path} with SSE and WebSocket);
// single-shot ANY /v1/apps/{app}/run/{path}; BYOC POST /process/request/{path} as go-livepeer's
// gateway serves it. An app name holds a slash ("pipeline/model"): write it %2F-encoded in paths.
import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { proxyHttp, proxyUpgrade } from "../../core/reverse-proxy.ts";
import type { Accounts, ApiKey } from "../accounts/index.ts";
import type { GuardResult } from "../accounts/guard.ts";
import { setRelayCors } from "../api/relay-cors.ts";
import type { PreHandler } from "../api/auth.ts";
import { addFastLane } from "../api/fast-lane.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import { appUrl, DOT_SEGMENT_MESSAGE } from "./app-path.ts";
import { appCatalogue } from "./catalogue.ts";
import type { ByocJobs } from "./byoc.ts";
import type { AppRuns } from "./runs.ts";
import { AppError, type AppSession, type AppSessions } from "./sessions.ts";
import { handedOn, serveByoc, serveRun, singleShotLane } from "./single-shot.ts";

export interface AppRoutesDeps {
  accounts: Accounts;
  registry: OrchestratorRegistry;
  sessions: AppSessions;
  runs: AppRuns;
  byoc: ByocJobs;
  auth: PreHandler;
  /** The same checks as `auth` on a plain Node request (the single-shot lane). */
  authRaw: (req: IncomingMessage) => GuardResult | Promise<GuardResult>;
  publicUrl: () => string;
  region?: string;
}

export { MAX_RUN_BODY_BYTES } from "./single-shot.ts";

/**
 * How long a request into a session may wait for the app's answer to begin: an app may work for
 * minutes before it answers (go-livepeer's proxy sets no bound); the session's end cuts it anyway.
 */
const SESSION_HEAD_TIMEOUT_MS = 10 * 60_000;

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof AppError) return reply.code(err.status).headers(err.headers).send({ error: err.code, message: err.message });
  throw err;
}

/** The target path and query after a route's wildcard. */
function rest(req: FastifyRequest, wildcard: string): string {
  const q = req.url.indexOf("?");
  return `${wildcard}${q >= 0 ? req.url.slice(q) : ""}`;
}

export function sessionView(publicUrl: string, s: AppSession): Record<string, unknown> {
  const base = `${publicUrl}/v1/apps/${encodeURIComponent(s.app)}/sessions/${s.id}`;
  return {
    id: s.id,
    app: s.app,
    state: s.endedAt ? "ended" : "running",
    orchestrator: s.orchestrator,
    appUrl: `${base}/app/`,
    wsUrl: `${base.replace(/^http/, "ws")}/app/`,
    startedAt: new Date(s.startedAt).toISOString(),
    billedSeconds: s.billedSeconds,
    chargedMicros: s.chargedMicros,
    paidWei: s.paidWei.toString(),
    ...(s.endedAt ? { endedAt: new Date(s.endedAt).toISOString(), endReason: s.endReason, endDetail: s.endDetail ?? null } : {}),
  };
}

export async function registerAppRoutes(app: FastifyInstance, d: AppRoutesDeps): Promise<void> {
  /** The key's session: running, or (with `ended`) one that ended lately. */
  const owned = (req: FastifyRequest, id: string, ended = false): AppSession => {
    const s = ended ? d.sessions.find(id) : d.sessions.get(id);
    const key = req.apiKey as ApiKey;
    if (!s || (s.keyId !== key.id && !key.scopes.includes("admin"))) {
      const gone = d.sessions.find(id);
      const why = gone?.endedAt && (gone.keyId === key.id || key.scopes.includes("admin")) ? ` (it ended: ${gone.endReason}${gone.endDetail ? `, ${gone.endDetail}` : ""})` : "";
      throw new AppError(404, "not_found", `no running session ${id}${why}`);
    }
    return s;
  };

  app.get("/v1/apps", { preHandler: d.auth as never, schema: { summary: "Apps Wharf can serve now (Live Runner and BYOC), with prices and capacity", tags: ["apps"] } }, async () => ({
    apps: appCatalogue(d.registry, d.accounts.priceBook),
    byoc: d.registry.apps().flatMap((o) => o.apps.byoc.map((b) => ({ capability: b.name, orchestrator: o.address, region: o.region ?? null, capacityAvailable: b.capacity_available }))),
  }));

  await app.register(async (sub) => {
    // Bodies stream to the runner as they arrive: nothing is parsed here.
    sub.removeAllContentTypeParsers();
    sub.addContentTypeParser("*", (_req, _payload, done) => done(null, undefined));
    sub.addHook("preHandler", d.auth as never);

    sub.post<{ Params: { app: string } }>("/v1/apps/:app/sessions", async (req, reply) => {
      try {
        const s = await d.sessions.open(req.apiKey as ApiKey, req.params.app);
        return reply.code(201).send(sessionView(d.publicUrl(), s));
      } catch (err) {
        return sendError(reply, err);
      }
    });
    sub.get<{ Params: { app: string } }>("/v1/apps/:app/sessions", async (req) => {
      const key = req.apiKey as ApiKey;
      return { sessions: d.sessions.list(key.scopes.includes("admin") ? undefined : key.id).filter((s) => s.app === req.params.app).map((s) => sessionView(d.publicUrl(), s)) };
    });
    sub.get<{ Params: { app: string; id: string } }>("/v1/apps/:app/sessions/:id", async (req, reply) => {
      try {
        return sessionView(d.publicUrl(), owned(req, req.params.id, true));
      } catch (err) {
        return sendError(reply, err);
      }
    });
    sub.delete<{ Params: { app: string; id: string } }>("/v1/apps/:app/sessions/:id", async (req, reply) => {
      try {
        const s = owned(req, req.params.id, true);
        return sessionView(d.publicUrl(), s.endedAt ? s : (await d.sessions.end(s.id, "stopped")) ?? s);
      } catch (err) {
        return sendError(reply, err);
      }
    });
    sub.all<{ Params: { app: string; id: string; "*": string } }>("/v1/apps/:app/sessions/:id/app/*", async (req, reply) => {
      let s;
      try {
        s = owned(req, req.params.id);
      } catch (err) {
        return sendError(reply, err);
      }
      const url = appUrl(s.reservation.app_url, rest(req, req.params["*"]));
      if (!url) return reply.code(400).send({ error: "bad_request", message: DOT_SEGMENT_MESSAGE });
      // Cut when the session ends (a stream must not outlive its billing).
      const untrack = d.sessions.track(s.id, () => reply.raw.destroy());
      if (!untrack) return reply.code(404).send({ error: "not_found", message: `session ${s.id} ended` });
      reply.hijack();
      setRelayCors(req.raw, reply.raw);
      const out = await proxyHttp(req.method, req.headers, req.raw, reply.raw, { url, headers: { authorization: undefined }, headTimeoutMs: SESSION_HEAD_TIMEOUT_MS }).finally(untrack);
      if (!out.answered && !reply.raw.headersSent && !reply.raw.destroyed) {
        reply.raw.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ error: "runner_unreachable", message: `the session's orchestrator did not answer: ${out.error}` }));
      }
      return reply;
    });

    // Single-shot runs and BYOC jobs: served ahead of fastify by the lane (single-shot.ts), which
    // hands a request here only to send a refusal it decided; these routes serve what the lane
    // does not take (HEAD, an unusual URL) the same way.
    sub.all<{ Params: { app: string; "*": string } }>("/v1/apps/:app/run/*", async (req, reply) => {
      const early = handedOn(req.raw);
      const err = early ? early.outcome : await serveRun(d, req.raw, reply.raw, req.apiKey as ApiKey, req.params.app, rest(req, req.params["*"]), () => reply.hijack());
      return err === undefined ? reply : sendError(reply, err);
    });
    sub.post<{ Params: { "*": string } }>("/process/request/*", async (req, reply) => {
      const early = handedOn(req.raw);
      const err = early ? early.outcome : await serveByoc(d, req.raw, reply.raw, req.apiKey as ApiKey, rest(req, req.params["*"]), () => reply.hijack());
      return err === undefined ? reply : sendError(reply, err);
    });
  });

  addFastLane(app, singleShotLane(d, d.authRaw));

  // WebSocket (and any upgrade) into a session: fastify does not route upgrades.
  app.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const m = /^\/v1\/apps\/[^/]+\/sessions\/([^/]+)\/app\/([^?]*)(\?.*)?$/.exec(req.url ?? "");
    if (!m) {
      if (app.server.listenerCount("upgrade") === 1) socket.destroy();
      return;
    }
    // Node takes its own error listener off an upgraded socket: without one, a client that resets
    // the connection while it is checked would be an uncaught error (the process would exit).
    socket.on("error", () => socket.destroy());
    void (async () => {
      const refuse = (status: number, error: string, message: string, headers: Record<string, string> = {}) => {
        const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
        socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\ncontent-type: application/json\r\nconnection: close\r\n${extra}\r\n${JSON.stringify({ error, message })}`);
      };
      // The same checks as the session's HTTP routes: key, scope, allowlist and rate limit.
      const auth = await d.authRaw(req);
      if (!auth.ok) return refuse(auth.status, auth.error, auth.message, auth.headers);
      const s = d.sessions.get(m[1]!);
      if (!s || (s.keyId !== auth.key.id && !auth.key.scopes.includes("admin"))) return refuse(404, "not_found", `no running session ${m[1]}`);
      const url = appUrl(s.reservation.app_url, `${m[2]}${m[3] ?? ""}`);
      if (!url) return refuse(400, "bad_request", DOT_SEGMENT_MESSAGE);
      if (socket.destroyed) return; // the client left while its key was checked
      const untrack = d.sessions.track(s.id, () => socket.destroy());
      if (!untrack) return refuse(404, "not_found", `session ${s.id} ended`);
      socket.once("close", untrack);
      await proxyUpgrade(req, socket, head, { url, headers: { authorization: undefined }, headTimeoutMs: SESSION_HEAD_TIMEOUT_MS });
    })().catch(() => socket.destroy());
  });
}
