// The development orchestrator's apps feature: it hosts go-livepeer 0.9 Live Runner apps and BYOC
// containers. Routes: GET /discovery; POST /apps/{runner}/session (402 payment challenge when the
// runner is priced and payment is required), .../payment, .../stop; ANY .../session/{id}/app/{path}
// proxied to the runner (HTTP, SSE, WebSocket); ANY /apps/{runner}/app/{path} single-shot;
// POST /capability/register|unregister, GET /process/token and POST /process/request/{path} for
// BYOC (byoc.ts, go-livepeer's job protocol).
// A paid session is debited every payment interval for the whole seconds since the last debit and
// released when its balance cannot pay (go-livepeer closes unpaid sessions the same way).
import { randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { proxyHttp, proxyUpgrade } from "../../core/reverse-proxy.ts";
import {
  PAYER_ADDRESS_HEADER, PIXELS_PER_SECOND_720P30, RUNNER_ROUTE_HEADER, SESSION_CONTROL_HEADER, SESSION_ID_HEADER, SESSION_TOKEN_HEADER,
  type DiscoveredRunner, type DiscoveryEntry, type PaymentChallenge,
} from "../../protocol/apps/live-runner.ts";
import { encodeBase64, encodeMessage } from "../../protocol/messages.ts";
import { AddressFormatError, parseAddress } from "../../protocol/payments/address.ts";
import { PAYMENT_HEADER } from "../../protocol/segment-header.ts";
import type { FeatureContext, OrchestratorFeature, Price, WorkPayment } from "../feature.ts";
import { ByocHost } from "./byoc.ts";
import { decodeOr, header } from "./request.ts";
import { DEFAULT_RUNNER_HEALTH_INTERVAL_MS, readRunnersFile, RunnerTable, type Runner, type RunnerSpec } from "./runners.ts";

export const DEFAULT_APP_PAYMENT_INTERVAL_MS = 5000;
/** A 402 challenge's manifest id is good for this long. */
const CHALLENGE_TTL_MS = 60_000;
/** Challenges offered and not yet paid, at most. */
const MAX_CHALLENGES = 10_000;
/** Ended sessions whose reason is remembered for the gateway's next look. */
const MAX_ENDED_REMEMBERED = 1000;

export interface AppsFeatureOptions {
  /** go-livepeer -liveRunnerConfig JSON file. */
  runnersFile?: string;
  runners?: RunnerSpec[];
  healthIntervalMs?: number;
  /** Debit paid sessions this often (default 5 s). */
  paymentIntervalMs?: number;
  /** go-livepeer's orchSecret: required on POST /capability/register. */
  orchSecret?: string;
  /**
   * Release a session with no payment or app traffic for this long (a gateway that gave up on it
   * or died). Default: never, as go-livepeer (a paid session ends when its balance runs out).
   */
  sessionIdleMs?: number;
}

interface AppSession {
  id: string;
  runner: Runner;
  token: string;
  work?: WorkPayment;
  lastDebitAt: number;
  /** The last payment or app request. */
  lastSeenAt: number;
  /** WebSocket (upgraded) connections open through the session: it is in use while any is. */
  openUpgrades: number;
  timer?: NodeJS.Timeout;
  endedReason?: string;
}

const newId = () => randomBytes(16).toString("hex");
/** Units of work per second of a session, in the runner's price unit. */
function unitsPerSecond(r: RunnerSpec): number {
  return r.unit === "720p-pixel-seconds" ? PIXELS_PER_SECOND_720P30 : 1;
}

export function createAppsFeature(opts: AppsFeatureOptions): OrchestratorFeature & { runners: RunnerTable } {
  const runners = new RunnerTable([...(opts.runners ?? []), ...(opts.runnersFile ? readRunnersFile(opts.runnersFile) : [])]);
  const sessions = new Map<string, AppSession>();
  const challenges = new Map<string, { runner: string; expiresAt: number }>();
  const byoc = new ByocHost();
  const paymentIntervalMs = opts.paymentIntervalMs ?? DEFAULT_APP_PAYMENT_INTERVAL_MS;
  let idleSweep: NodeJS.Timeout | undefined;
  const idleMs = opts.sessionIdleMs;

  /** Why recent sessions ended, for the gateway's next look at the session (bounded). */
  const endedReasons = new Map<string, string>();
  const endSession = (s: AppSession, reason: string, ctx: FeatureContext): void => {
    if (s.endedReason) return;
    s.endedReason = reason;
    if (s.timer) clearInterval(s.timer);
    sessions.delete(s.id);
    endedReasons.set(s.id, reason);
    if (endedReasons.size > MAX_ENDED_REMEMBERED) endedReasons.delete(endedReasons.keys().next().value!);
    runners.release(s.runner);
    ctx.log.info({ session: s.id, runner: s.runner.id, reason }, "app session ended");
  };

  /**
   * Remember a 402 challenge's manifest id. Anyone may ask for one, so the map is bounded: expired
   * ones go first (all have the same lifetime, so they are the oldest), then the oldest live one.
   */
  const offerChallenge = (id: string, runner: string): void => {
    const now = Date.now();
    for (const [k, c] of challenges) {
      if (c.expiresAt >= now && challenges.size < MAX_CHALLENGES) break;
      challenges.delete(k);
    }
    challenges.set(id, { runner, expiresAt: now + CHALLENGE_TTL_MS });
  };

  /**
   * With `idleMs`: a session nobody paid for or used for that long is released (else a reservation
   * whose gateway gave up on it, or died, holds its runner's capacity for good).
   */
  const sweepIdle = (ctx: FeatureContext, idleMs: number): void => {
    const before = Date.now() - idleMs;
    for (const s of [...sessions.values()]) if (s.lastSeenAt < before && s.openUpgrades === 0) endSession(s, `idle for ${idleMs / 1000} s (no payment or app traffic)`, ctx);
  };

  const priced = (ctx: FeatureContext, price: Price) => ctx.paymentRequired && price.pricePerUnit > 0;

  /**
   * The 402 answer: OrchestratorInfo for the payer at the runner's price. Its manifest_id is the
   * info's auth token session, as go-livepeer's (a payment must carry that manifest); `offered`
   * learns it, `paymentPath` gives the payment URL for it. Replies 400 without a payer address.
   */
  const challenge = async (ctx: FeatureContext, req: FastifyRequest, reply: FastifyReply, price: Price, paymentPath: (manifestId: string) => string, offered?: (manifestId: string) => void): Promise<FastifyReply> => {
    let sender: Uint8Array;
    try {
      sender = parseAddress(header(req, PAYER_ADDRESS_HEADER) ?? "");
    } catch (err) {
      if (!(err instanceof AddressFormatError)) throw err;
      return reply.code(400).type("text/plain").send(`payment required: send ${PAYER_ADDRESS_HEADER} to get payment parameters`);
    }
    const info = ctx.orchestratorInfo({ sender, price });
    const manifestId = info.authToken?.sessionId ?? newId();
    offered?.(manifestId);
    const body: PaymentChallenge = { payment_params: encodeBase64("OrchestratorInfo", info), orchestrator: ctx.serviceUrl, manifest_id: manifestId, payment_url: ctx.publicUrl(paymentPath(manifestId)) };
    return reply.code(402).send(body);
  };

  /**
   * The manifest id of the request's payment credentials: undefined when they are not valid, ""
   * when the manifest is not the auth token's session (go-livepeer answers that with 403
   * "mismatched manifest and auth token").
   */
  const manifestOf = (ctx: FeatureContext, req: FastifyRequest, sameAsToken = true): string | undefined => {
    const c = ctx.checkCredentials(req.headers["livepeer-segment"]);
    if (!c.ok) return undefined;
    const manifest = Buffer.from(c.segData.manifestId ?? new Uint8Array()).toString("utf8");
    return manifest && (!sameAsToken || manifest === c.segData.authToken?.sessionId) ? manifest : "";
  };
  const MISMATCHED = "mismatched manifest and auth token";

  /** The 404 for a session this orchestrator does not have: why it ended when it did have it. */
  const noSession = (id: string) => {
    const why = endedReasons.get(id);
    return { error: "not_found", message: why ? `session ${id} ended: ${why}` : `no session ${id} (never reserved)` };
  };

  const runnerView = (ctx: FeatureContext, r: Runner): DiscoveredRunner => ({
    url: ctx.publicUrl(`/apps/${encodeURIComponent(r.id)}/${r.mode === "persistent" ? "session" : "app"}`),
    gpu: r.gpu ?? null,
    app: r.app,
    version: r.version,
    metadata: r.metadata,
    mode: r.mode,
    capacity: r.capacity,
    capacity_used: r.used,
    capacity_available: r.healthy ? Math.max(0, r.capacity - r.used) : 0,
    ...(r.price.pricePerUnit > 0
      ? { price_info: { price: r.price.pricePerUnit / r.price.pixelsPerUnit, currency: "wei" as const, unit: r.unit, price_per_unit: r.price.pricePerUnit, pixels_per_unit: r.price.pixelsPerUnit } }
      : {}),
  });

  /** Proxy headers go-livepeer adds for the runner. */
  const sessionHeaders = (ctx: FeatureContext, r: Runner, s?: AppSession): Record<string, string | undefined> => ({
    [RUNNER_ROUTE_HEADER]: r.id,
    [SESSION_ID_HEADER]: s?.id,
    [SESSION_TOKEN_HEADER]: s?.token,
    [SESSION_CONTROL_HEADER]: s ? ctx.publicUrl(`/apps/${encodeURIComponent(r.id)}/session/${s.id}`) : undefined,
    // Payment headers are the orchestrator's business, not the runner's.
    [PAYMENT_HEADER]: undefined,
    "livepeer-segment": undefined,
  });

  const relay = async (reply: FastifyReply, req: FastifyRequest, target: URL, headers: Record<string, string | undefined>): Promise<boolean> => {
    reply.hijack();
    const out = await proxyHttp(req.method, req.headers, req.raw, reply.raw, { url: target, headers });
    if (!out.answered && !reply.raw.headersSent && !reply.raw.destroyed) {
      reply.raw.writeHead(502, { "content-type": "application/json" });
      reply.raw.end(JSON.stringify({ error: "runner_unreachable", message: `the runner did not answer: ${out.error}` }));
      return false;
    }
    return out.answered && out.status < 500;
  };

  const targetUrl = (base: string, rest: string, rawUrl: string): URL => {
    const q = rawUrl.indexOf("?");
    return new URL(`${base}/${rest}${q >= 0 ? rawUrl.slice(q) : ""}`);
  };

  const feature: OrchestratorFeature & { runners: RunnerTable } = {
    name: "apps",
    runners,
    capabilities: () => [],
    async register(app: FastifyInstance, ctx: FeatureContext) {
      // A runner that fails its health check takes its sessions' state with it: they end (the
      // gateway sees 404 with the reason at its next look and ends its customer's session).
      runners.onUnhealthy = (r) => {
        for (const s of [...sessions.values()]) if (s.runner.id === r.id) endSession(s, `runner ${r.id} failed its health check: ${r.lastHealthError}`, ctx);
      };
      await runners.start(opts.healthIntervalMs ?? DEFAULT_RUNNER_HEALTH_INTERVAL_MS);
      if (idleMs !== undefined) {
        idleSweep = setInterval(() => sweepIdle(ctx, idleMs), Math.min(10_000, idleMs / 4));
        idleSweep.unref();
      }

      // As go-livepeer: a runner whose health check fails is not listed (its sessions were released).
      app.get("/discovery", async (): Promise<DiscoveryEntry[]> => [
        { address: ctx.serviceUrl, runners: [...runners.runners.values()].filter((r) => r.healthy).map((r) => runnerView(ctx, r)), byoc: byoc.view() },
      ]);

      // Bodies are streamed to runners as they arrive: no parsing in this scope.
      await app.register(async (sub) => {
        sub.removeAllContentTypeParsers();
        sub.addContentTypeParser("*", (_req, _payload, done) => done(null, undefined));

        sub.post<{ Params: { runner: string } }>("/apps/:runner/session", async (req, reply) => {
          const r = runners.get(req.params.runner);
          if (!r || r.mode !== "persistent") return reply.code(404).send({ error: "not_found", message: `no persistent runner "${req.params.runner}"` });
          if (!r.healthy) return reply.code(503).send({ error: "runner_unhealthy", message: `runner ${r.id} failed its health check: ${r.lastHealthError}` });
          if (r.used >= r.capacity) return reply.code(503).send({ error: "busy", message: `runner ${r.id} is at capacity (${r.capacity})` });
          let id = newId();
          let work: WorkPayment | undefined;
          if (priced(ctx, r.price)) {
            if (!header(req, PAYMENT_HEADER)) {
              return challenge(ctx, req, reply, r.price, (m) => `/apps/${encodeURIComponent(r.id)}/session/${m}/payment`, (m) => offerChallenge(m, r.id));
            }
            const manifest = manifestOf(ctx, req);
            if (manifest === "") return reply.code(403).type("text/plain").send(MISMATCHED);
            const c = manifest ? challenges.get(manifest) : undefined;
            if (!manifest || !c || c.runner !== r.id || c.expiresAt < Date.now()) {
              return reply.code(400).type("text/plain").send("payment manifest is not a session this orchestrator offered (reserve again)");
            }
            work = await ctx.acceptPayment(req, reply, { balanceKey: manifest, capability: 0, modelId: r.app, price: r.price });
            if (!work) return reply;
            challenges.delete(manifest);
            id = manifest;
          }
          if (!runners.acquire(r)) return reply.code(503).send({ error: "busy", message: `runner ${r.id} is at capacity (${r.capacity})` });
          // A fixed price is paid once, with the reservation (after it, as go-livepeer); a price by time every interval after.
          const short = work && r.unit === "fixed" ? work.debitIfCovered(1) : undefined;
          if (short) {
            runners.release(r);
            return reply.code(400).type("text/plain").send(`payment: balance ${short.balance} wei does not cover the fixed price of ${short.fee} wei`);
          }
          const s: AppSession = { id, runner: r, token: newId(), work, lastDebitAt: Date.now(), lastSeenAt: Date.now(), openUpgrades: 0 };
          sessions.set(id, s);
          if (work && r.unit !== "fixed") {
            s.timer = setInterval(() => {
              const seconds = Math.floor((Date.now() - s.lastDebitAt) / 1000);
              if (seconds <= 0) return;
              s.lastDebitAt += seconds * 1000;
              const short = work.debitIfCovered(seconds * unitsPerSecond(r));
              if (short) endSession(s, `payment: balance ${short.balance} wei does not cover ${short.fee} wei`, ctx);
            }, paymentIntervalMs);
            s.timer.unref();
          }
          const base = `/apps/${encodeURIComponent(r.id)}/session/${id}`;
          return { session_id: id, app_url: ctx.publicUrl(`${base}/app`), control_url: ctx.publicUrl(base) };
        });

        sub.post<{ Params: { runner: string; id: string } }>("/apps/:runner/session/:id/payment", async (req, reply) => {
          const s = sessions.get(req.params.id);
          if (!s || s.runner.id !== req.params.runner) return reply.code(404).send(noSession(req.params.id));
          if (s.runner.unit === "fixed") return reply.code(409).type("text/plain").send("fixed-price live runner sessions do not accept follow-up payments");
          s.lastSeenAt = Date.now();
          let payer: Uint8Array | undefined;
          if (!header(req, PAYMENT_HEADER)) {
            // No tickets: fresh payment parameters for the payer (the gateway's session refresh).
            try {
              payer = parseAddress(header(req, PAYER_ADDRESS_HEADER) ?? "");
            } catch {
              return reply.code(400).type("text/plain").send(`send ${PAYMENT_HEADER} or ${PAYER_ADDRESS_HEADER}`);
            }
          } else {
            // A top-up's manifest must be the session (go-livepeer does not compare it with the token here).
            const manifest = manifestOf(ctx, req, false);
            if (manifest !== s.id) return reply.code(403).type("text/plain").send("mismatched session and payment manifest");
            const work = await ctx.acceptPayment(req, reply, { balanceKey: s.id, capability: 0, modelId: s.runner.app, price: s.runner.price });
            if (!work) {
              endSession(s, "payment refused", ctx);
              return reply;
            }
            payer = parseAddress(work.sender);
          }
          const c = ctx.checkCredentials(req.headers["livepeer-segment"]);
          const info = ctx.orchestratorInfo({ sender: payer, price: s.runner.price, balanceKey: s.id, ...(c.ok && c.segData.authToken ? { authToken: c.segData.authToken } : {}) });
          return reply.type("application/octet-stream").send(encodeMessage("PaymentResult", { info }));
        });

        sub.post<{ Params: { runner: string; id: string } }>("/apps/:runner/session/:id/stop", async (req, reply) => {
          const s = sessions.get(req.params.id);
          if (s && s.runner.id === req.params.runner) endSession(s, "stopped", ctx);
          return reply.code(204).send();
        });

        sub.all<{ Params: { runner: string; id: string; "*": string } }>("/apps/:runner/session/:id/app/*", async (req, reply) => {
          const s = sessions.get(req.params.id);
          if (!s || s.runner.id !== req.params.runner) return reply.code(404).send(noSession(req.params.id));
          s.lastSeenAt = Date.now();
          await relay(reply, req, targetUrl(s.runner.runnerUrl, req.params["*"], req.url), sessionHeaders(ctx, s.runner, s));
          return reply;
        });

        sub.all<{ Params: { runner: string; "*": string } }>("/apps/:runner/app/*", async (req, reply) => {
          const r = runners.get(req.params.runner);
          if (!r || r.mode !== "single-shot") return reply.code(404).send({ error: "not_found", message: `no single-shot runner "${req.params.runner}"` });
          let work: WorkPayment | undefined;
          if (priced(ctx, r.price)) {
            if (!header(req, PAYMENT_HEADER)) return challenge(ctx, req, reply, r.price, () => `/apps/${encodeURIComponent(r.id)}/app`);
            const manifest = manifestOf(ctx, req);
            if (!manifest) return reply.code(403).type("text/plain").send(manifest === "" ? MISMATCHED : "invalid Livepeer-Segment credentials");
            work = await ctx.acceptPayment(req, reply, { balanceKey: manifest, capability: 0, modelId: r.app, price: r.price });
            if (!work) return reply;
          }
          if (!runners.acquire(r)) {
            return reply.code(503).header("retry-after", "1").send({ error: "busy", message: r.healthy ? `runner ${r.id} is at capacity (${r.capacity})` : `runner ${r.id} failed its health check: ${r.lastHealthError}` });
          }
          const t0 = Date.now();
          try {
            await relay(reply, req, targetUrl(r.runnerUrl, req.params["*"], req.url), sessionHeaders(ctx, r));
          } finally {
            runners.release(r);
            work?.debit(r.unit === "fixed" ? 1 : Math.max(1, Math.ceil((Date.now() - t0) / 1000)) * unitsPerSecond(r));
          }
          return reply;
        });

        // --- BYOC (go-livepeer's job protocol: byoc.ts)
        byoc.register(sub, ctx, opts.orchSecret, relay, targetUrl);
      });

      ctx.onUpgrade((req, socket, head) => {
        const m = /^\/apps\/([^/]+)\/session\/([^/]+)\/app\/([^?]*)(\?.*)?$/.exec(req.url ?? "");
        const s = m ? sessions.get(m[2]!) : undefined;
        if (!m || !s || s.runner.id !== decodeOr(m[1]!)) {
          socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
          return;
        }
        s.lastSeenAt = Date.now();
        s.openUpgrades++;
        socket.once("close", () => {
          s.openUpgrades--;
          s.lastSeenAt = Date.now();
        });
        void proxyUpgrade(req, socket, head, { url: new URL(`${s.runner.runnerUrl}/${m[3]}${m[4] ?? ""}`), headers: sessionHeaders(ctx, s.runner, s) });
      });
    },
    async close() {
      runners.stop();
      clearInterval(idleSweep);
      for (const s of sessions.values()) if (s.timer) clearInterval(s.timer);
      sessions.clear();
    },
  };
  return feature;
}
