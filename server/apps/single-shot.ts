// Single-shot app runs (ANY /v1/apps/{app}/run/{path}) and BYOC jobs (POST /process/request/{path}):
// what both do with a request once its key is known, shared by their fastify routes
// (server/apps/routes.ts) and by the lane that serves them ahead of fastify.
//
// Why a lane: these requests are relayed whole to a runner, and the relay is the product; a
// customer sees the gateway's CPU per request as latency (16 clients on 2 cores queue behind it).
// Through fastify a run cost 0.30–0.38 ms of Wharf's CPU against 0.11–0.16 ms for a bare Node
// proxy (bench/apps-overhead.ts); routing, the onRequest hooks, CORS and the content-type parser
// that fastify runs for them were ~40 µs of it, none of it visible in a relayed answer (that is
// written to the raw response: fastify's reply headers never reached it). The lane takes only URLs
// fastify routes to these same routes (an unusual one, e.g. a %-escape in the path after `run/`,
// goes to fastify), authenticates with the same guard, and hands a refusal to fastify to send, so
// 4xx answers keep fastify's shape and headers. See docs/benchmarks.md (apps).
import type { IncomingMessage, ServerResponse } from "node:http";
import { moduleLogger } from "../../core/log.ts";
import { readRequestBody, RequestBodyTooLargeError } from "../../core/request-body.ts";
import { BYOC_HEADER, ByocHeaderError, parseByocHeader } from "../../protocol/apps/live-runner.ts";
import type { Accounts, ApiKey } from "../accounts/index.ts";
import type { GuardResult } from "../accounts/guard.ts";
import { observeLaneRequest, type FastLane, type Listener } from "../api/fast-lane.ts";
import { setRelayCors } from "../api/relay-cors.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import type { ByocJobs } from "./byoc.ts";
import { DOT_SEGMENT_MESSAGE, isSafeAppPath } from "./app-path.ts";
import { appPipeline, runnersFor, runnerWeiPerUnit } from "./catalogue.ts";
import { MAX_RUN_ATTEMPTS, type AppRuns, type RunRequest, type RunTarget } from "./runs.ts";
import { AppError } from "./sessions.ts";

const log = moduleLogger("apps");

/** Single-shot and BYOC bodies are held in memory (for a retry): up to this size. */
export const MAX_RUN_BODY_BYTES = 32 * 1024 * 1024;

export interface SingleShotDeps {
  accounts: Accounts;
  registry: OrchestratorRegistry;
  runs: AppRuns;
  byoc: ByocJobs;
  region?: string;
}

/**
 * The request's body, up to MAX_RUN_BODY_BYTES (held for a retry on another runner), then `then`
 * with it; the 413 to send past the limit. Promise callbacks rather than async functions here and
 * below: this path runs thousands of times a second, and each async frame and await was a promise
 * more per request, a tenth of what the gateway allocated per run.
 */
function withBody(req: IncomingMessage, then: (body: Buffer) => AppError | undefined | Promise<AppError | undefined | void>): Promise<AppError | undefined> {
  return readRequestBody(req, MAX_RUN_BODY_BYTES).then(
    (body) => then(body) as Promise<AppError | undefined> | AppError | undefined,
    (err: unknown) => {
      if (err instanceof RequestBodyTooLargeError) return new AppError(413, "body_too_large", err.message);
      throw err;
    },
  );
}

/** The answer is relayed from here on: `relay` tells the caller, and it carries CORS as every route's does. */
function relayRun(d: SingleShotDeps, req: IncomingMessage, res: ServerResponse, relay: () => void, run: RunRequest): Promise<void> {
  relay();
  setRelayCors(req, res);
  return d.runs.run(run, res);
}

/**
 * One run of `appName` (`path`: after `run/`, with the query). Resolves to the refusal to send
 * when nothing was written; `relay` is called once the answer is about to be written to `res`.
 */
export function serveRun(d: SingleShotDeps, req: IncomingMessage, res: ServerResponse, key: ApiKey, appName: string, path: string, relay: () => void): Promise<AppError | undefined> {
  if (!isSafeAppPath(path)) return Promise.resolve(new AppError(400, "bad_request", DOT_SEGMENT_MESSAGE));
  return withBody(req, (body) => {
    // Only the runners a request may try get a URL.
    const targets: RunTarget[] = runnersFor(d.registry, appName, "single-shot", d.region, MAX_RUN_ATTEMPTS).map((c) => ({
      orchestrator: c.orchestrator,
      url: new URL(`${c.runner.url}/${path}`),
      costWei: BigInt(Math.ceil(runnerWeiPerUnit(c.runner))),
    }));
    const hosted = targets.length > 0 || d.registry.apps().some((o) => o.apps.runners.some((r) => r.app === appName && r.mode === "single-shot"));
    if (!hosted) return new AppError(404, "unknown_app", `no orchestrator hosts a single-shot app ${appName} (GET /v1/apps lists them)`);
    return relayRun(d, req, res, relay, { key, pipeline: appPipeline(d.accounts.priceBook, appName), model: appName, method: req.method!, headers: req.headers, body, targets, noTargetReason: `every runner of ${appName} is busy or unreachable` });
  });
}

/** One BYOC job as go-livepeer's gateway serves it: the `Livepeer` header names the capability. As serveRun. */
export function serveByoc(d: SingleShotDeps, req: IncomingMessage, res: ServerResponse, key: ApiKey, path: string, relay: () => void): Promise<AppError | undefined> {
  let job: ReturnType<typeof parseByocHeader>;
  try {
    job = parseByocHeader(req.headers[BYOC_HEADER.toLowerCase()]);
  } catch (err) {
    if (err instanceof ByocHeaderError) return Promise.resolve(new AppError(400, "bad_request", err.message));
    throw err;
  }
  if (!isSafeAppPath(path)) return Promise.resolve(new AppError(400, "bad_request", DOT_SEGMENT_MESSAGE));
  return withBody(req, (body) => byocRun(d, req, res, key, path, relay, job, body));
}

function byocRun(d: SingleShotDeps, req: IncomingMessage, res: ServerResponse, key: ApiKey, path: string, relay: () => void, job: ReturnType<typeof parseByocHeader>, body: Buffer): Promise<AppError | undefined | void> {
  // The orchestrators are asked for job tokens first (byoc.ts): which of them take the job, at what
  // price. A capped key past its cap is refused before that fan-out (the run holds its charge after).
  const capped = key.dailyCapMicros !== null || key.monthlyCapMicros !== null;
  const allowed = capped ? d.accounts.checkSpend(key, 0) : Promise.resolve({ ok: true as const, message: "" });
  return allowed.then((spend) => {
    if (!spend.ok) return new AppError(402, "spend_cap_reached", spend.message);
    return d.byoc.targets(job, path).then(({ targets, reason }) =>
      relayRun(d, req, res, relay, { key, pipeline: appPipeline(d.accounts.priceBook, `byoc/${job.capability}`), model: `byoc/${job.capability}`, method: "POST", headers: req.headers, body, targets, noTargetReason: reason, headTimeoutMs: (job.timeout_seconds + 5) * 1000 }),
    );
  });
}

const HANDED_ON = Symbol("wharf.apps.handedOn");
type HandedOn = IncomingMessage & { [HANDED_ON]?: { outcome: unknown } };

/**
 * What the lane decided for a request it handed on to fastify (a refusal to send, or an error
 * for fastify's error handler), or undefined when the lane did not see it.
 */
export function handedOn(req: IncomingMessage): { outcome: unknown } | undefined {
  return (req as HandedOn)[HANDED_ON];
}

/** A path segment as find-my-way's `:param` takes it: no `/`, `?`, `#`, `;`, and no escaped `%` (decoded twice). */
const SEGMENT = "((?:[A-Za-z0-9._~!$&'()*+,=:@-]|%(?!25)[0-9A-Fa-f]{2})+)";
/** The rest of the path as fastify's `*` gives it: nothing to decode. */
const REST = "([^?#%]*)(\\?[^#]*)?";
const RUN_PATH = new RegExp(`^/v1/apps/${SEGMENT}/run/${REST}$`);
const BYOC_PATH = new RegExp(`^/process/request/${REST}$`);
/** The methods `all` routes that fastify does not answer on its own (HEAD, OPTIONS go to fastify). */
const RUN_METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);
/** fastify's maxParamLength. */
const MAX_PARAM_LENGTH = 100;

/** The lane for single-shot runs and BYOC jobs (server/api/fast-lane.ts). */
export function singleShotLane(d: SingleShotDeps, authenticate: (req: IncomingMessage) => GuardResult | Promise<GuardResult>): FastLane {
  type Work = (key: ApiKey, relay: () => void) => Promise<AppError | undefined>;
  // Callbacks, not an async function: a cached key and a local rate limit give the verdict at
  // once, and the request goes on in the same turn without a promise per step.
  const authorized = (auth: GuardResult, req: IncomingMessage, res: ServerResponse, toFastify: Listener, route: string, startedAt: number, work: Work): void => {
    if (!auth.ok) return toFastify(req, res); // fastify's guard sends the refusal left on the request
    let relaying = false;
    const relay = () => {
      relaying = true;
    };
    const handOn = (outcome: unknown) => {
      (req as HandedOn)[HANDED_ON] = { outcome };
      toFastify(req, res);
    };
    let done: Promise<AppError | undefined>;
    try {
      done = work(auth.key, relay);
    } catch (err) {
      return handOn(err); // fastify's error handler answers it, as when the route threw
    }
    done.then(
      (outcome) => {
        if (outcome !== undefined) handOn(outcome);
        // Relayed (or cut short by the client once its head went out): timed with its status, as
        // fastify times its replies. A client that left before any answer got no status to count.
        else if (relaying && res.headersSent) observeLaneRequest(route, req.method!, res, startedAt);
      },
      (err: unknown) => {
        if (!relaying) return handOn(err);
        // As a hijacked fastify reply: logged, and the answer is not completed.
        log.error({ err }, "single-shot relay failed");
        if (!res.writableEnded) res.destroy();
      },
    ).catch((err: unknown) => {
      log.error({ err }, "single-shot request failed");
      res.destroy();
    });
  };
  const start = (req: IncomingMessage, res: ServerResponse, toFastify: Listener, route: string, work: Work): true => {
    const startedAt = performance.now();
    let auth: GuardResult | Promise<GuardResult>;
    try {
      auth = authenticate(req);
    } catch {
      toFastify(req, res); // fastify's guard checks again and its error handler answers
      return true;
    }
    if (auth instanceof Promise) {
      auth.then(
        (a) => authorized(a, req, res, toFastify, route, startedAt, work),
        () => toFastify(req, res),
      ).catch((err: unknown) => {
        log.error({ err }, "single-shot request failed");
        res.destroy();
      });
    } else {
      try {
        authorized(auth, req, res, toFastify, route, startedAt, work);
      } catch (err) {
        log.error({ err }, "single-shot request failed");
        res.destroy();
      }
    }
    return true;
  };
  return (req, res, toFastify) => {
    const url = req.url!;
    if (url.startsWith("/v1/apps/")) {
      if (!RUN_METHODS.has(req.method!)) return false;
      const m = RUN_PATH.exec(url);
      if (!m || m[1]!.length > MAX_PARAM_LENGTH) return false;
      let appName: string;
      try {
        appName = decodeURIComponent(m[1]!);
      } catch {
        return false; // fastify answers 400
      }
      const path = `${m[2]}${m[3] ?? ""}`;
      return start(req, res, toFastify, "/v1/apps/:app/run/*", (key, relay) => serveRun(d, req, res, key, appName, path, relay));
    }
    if (req.method === "POST" && url.startsWith("/process/request/")) {
      const m = BYOC_PATH.exec(url);
      if (!m) return false;
      const path = `${m[1]}${m[2] ?? ""}`;
      return start(req, res, toFastify, "/process/request/*", (key, relay) => serveByoc(d, req, res, key, path, relay));
    }
    return false;
  };
}
