// Persistent app sessions: one customer session is one reserved Live Runner session on one
// orchestrator (app state lives in the runner, so a failed runner ends the session, never a silent
// swap). Every interval the session is paid (tickets to the session's payment_url), billed to the
// key for the whole seconds since the last bill (spend cap checked first), and checked alive at the
// orchestrator; stopping releases the runner's slot.
import { randomBytes } from "node:crypto";
import { request } from "undici";
import { moduleLogger } from "../../core/log.ts";
import { orchestratorDispatcher } from "../../protocol/http-agent.ts";
import { isHttpUrl, PAYER_ADDRESS_HEADER, type SessionReservation } from "../../protocol/apps/live-runner.ts";
import { readBoundedText } from "../../protocol/bounded-body.ts";
import type { LivePaymentSession } from "../../protocol/payments/live-payments.ts";
import { PAYMENT_HEADER, SEGMENT_HEADER } from "../../protocol/segment-header.ts";
import type { Accounts, ApiKey } from "../accounts/index.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import { appPipeline, runnersFor, runnerWeiPerUnit, type AppRunnerView } from "./catalogue.ts";
import { challengeOf, sessionPayments, type AppPayer } from "./payments.ts";

const log = moduleLogger("apps");

/** Ended sessions kept for GET (state, endReason, endDetail), oldest forgotten first. */
const MAX_ENDED_KEPT = 1000;
/** Runners tried for one session before giving up. */
const MAX_RESERVE_ATTEMPTS = 3;
/** A session whose interval fails this many times in a row (an error answer, Wharf's spend check) is ended. */
const MAX_FAILED_INTERVALS = 3;
/** Reservation, liveness and stop answers are small JSON: more than this is not one. */
const MAX_CONTROL_ANSWER_BYTES = 64 * 1024;
const ORCHESTRATOR_CALL_TIMEOUT_MS = 5000;

export type SessionEndReason = "stopped" | "runner-failed" | "orchestrator-unreachable" | "payment" | "spend-cap" | "key-revoked" | "shutdown" | "error";

export interface AppSession {
  id: string;
  app: string;
  keyId: string;
  orchestrator: string;
  runnerUrl: string;
  reservation: SessionReservation;
  startedAt: number;
  weiPerSecond: number;
  billedSeconds: number;
  chargedMicros: number;
  paidWei: bigint;
  endedAt?: number;
  endReason?: SessionEndReason;
  endDetail?: string;
}

export interface SessionEnded {
  sessionId: string;
  app: string;
  keyId: string;
  orchestrator: string;
  reason: SessionEndReason;
  detail?: string;
  durationSeconds: number;
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface Live {
  s: AppSession;
  key: ApiKey;
  payments?: LivePaymentSession;
  timer: NodeJS.Timeout;
  lastBilledAt: number;
  paidWeiBilled: bigint;
  busy: boolean;
  /** Intervals in a row whose liveness check got an error answer (not 404: that ends it at once). */
  failedChecks: number;
  /** Intervals in a row that failed on Wharf's side (the spend check threw). */
  failedTicks: number;
}

export interface AppSessionsOptions {
  registry: OrchestratorRegistry;
  accounts: Accounts;
  payer?: AppPayer;
  intervalMs: number;
  region?: string;
  onEnded?: (e: SessionEnded) => void;
}

async function call(url: string, method: "GET" | "POST", headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const signal = AbortSignal.timeout(ORCHESTRATOR_CALL_TIMEOUT_MS);
  const res = await request(url, { method, headers, body: method === "POST" ? "" : undefined, dispatcher: orchestratorDispatcher(), signal });
  return { status: res.statusCode, text: await readBoundedText(res.body, MAX_CONTROL_ANSWER_BYTES, `${method} ${url}`) };
}

/** The `message` of a JSON error answer, else the text (bounded). */
function messageOf(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === "string") return m.slice(0, 300);
  } catch {
    /* not JSON */
  }
  return text.slice(0, 200);
}

export class AppSessions {
  private readonly live = new Map<string, Live>();
  private readonly ended = new Map<string, AppSession>();

  constructor(private readonly o: AppSessionsOptions) {}

  /** A running session. */
  get(id: string): AppSession | undefined {
    return this.live.get(id)?.s;
  }

  /** A running session, or one that ended lately (with its endReason and endDetail). */
  find(id: string): AppSession | undefined {
    return this.live.get(id)?.s ?? this.ended.get(id);
  }

  list(keyId?: string): AppSession[] {
    return [...this.live.values()].filter((l) => !keyId || l.key.id === keyId).map((l) => l.s);
  }

  /** Select a runner with capacity, reserve it (paying the 402 challenge), and start paying and billing. */
  async open(key: ApiKey, app: string): Promise<AppSession> {
    const candidates = runnersFor(this.o.registry, app, "persistent", this.o.region);
    if (candidates.length === 0) {
      const known = this.o.registry.apps().some((o) => o.apps.runners.some((r) => r.app === app && r.mode === "persistent"));
      throw known
        ? new AppError(503, "no_capacity", `every runner of ${app} is busy or unreachable; try again shortly`, { "retry-after": "2" })
        : new AppError(404, "unknown_app", `no orchestrator hosts a persistent app ${app} (GET /v1/apps lists them)`);
    }
    const pipeline = appPipeline(this.o.accounts.priceBook, app);
    const first = candidates[0]!;
    // The spend cap: a session must afford its first payment interval.
    const projected = this.o.accounts.priceBook.charge({ pipeline, units: 1, durationMs: this.o.intervalMs, orchestratorCostWei: BigInt(Math.ceil(runnerWeiPerUnit(first.runner) * (this.o.intervalMs / 1000))) });
    const spend = await this.o.accounts.checkSpend(key, projected);
    if (!spend.ok) throw new AppError(402, "spend_cap_reached", spend.message, { "retry-after": String(Math.max(1, Math.ceil((spend.resetsAt - Date.now()) / 1000))) });
    const reasons: string[] = [];
    for (const c of candidates.slice(0, MAX_RESERVE_ATTEMPTS)) {
      try {
        return this.start(key, app, c, await this.reserve(c));
      } catch (err) {
        reasons.push(`${c.orchestrator}: ${(err as Error).message}`);
        if (err instanceof AppError && err.status === 503) this.o.registry.reportBusy(c.orchestrator);
        else this.o.registry.reportFailure(c.orchestrator, (err as Error).message.startsWith("payment") ? "payment" : "network");
        void this.o.registry.refreshApps(c.orchestrator);
      }
    }
    throw new AppError(503, "no_runner", `no runner of ${app} could be reserved: ${reasons.join("; ")}`, { "retry-after": "2" });
  }

  private async reserve(c: AppRunnerView): Promise<{ reservation: SessionReservation; payments?: LivePaymentSession }> {
    const payerAddress = this.o.payer?.address();
    const headers: Record<string, string> = payerAddress ? { [PAYER_ADDRESS_HEADER]: payerAddress } : {};
    let r = await call(c.runner.url, "POST", headers).catch((err: Error) => {
      throw new Error(`unreachable: ${err.message}`);
    });
    let payments: LivePaymentSession | undefined;
    if (r.status === 402) {
      if (!this.o.payer) throw new Error("payment: the runner wants payment and Wharf has no remote signer");
      payments = sessionPayments(this.o.payer, challengeOf(r.status, r.text));
      const paid = await payments.first();
      r = await call(c.runner.url, "POST", { ...headers, [PAYMENT_HEADER]: paid.payment, [SEGMENT_HEADER]: paid.segCreds });
    }
    if (r.status === 503) throw new AppError(503, "busy", `busy: ${r.text.slice(0, 200)}`);
    if (r.status !== 200) throw new Error(`${r.status === 400 || r.status === 402 ? "payment refused" : "reservation failed"} (${r.status}): ${r.text.slice(0, 200)}`);
    let reservation: SessionReservation;
    try {
      reservation = JSON.parse(r.text) as SessionReservation;
    } catch {
      throw new Error(`reservation answer is not JSON: ${r.text.slice(0, 200)}`);
    }
    if (typeof reservation?.session_id !== "string" || !isHttpUrl(reservation.app_url) || !isHttpUrl(reservation.control_url)) {
      throw new Error("reservation without session_id, or without an http(s) app_url and control_url");
    }
    return { reservation, payments };
  }

  private start(key: ApiKey, app: string, c: AppRunnerView, r: { reservation: SessionReservation; payments?: LivePaymentSession }): AppSession {
    const now = Date.now();
    const s: AppSession = {
      id: `as_${randomBytes(16).toString("hex")}`,
      app,
      keyId: key.id,
      orchestrator: c.orchestrator,
      runnerUrl: c.runner.url,
      reservation: r.reservation,
      startedAt: now,
      weiPerSecond: runnerWeiPerUnit(c.runner) * (c.runner.price_info?.unit === "720p-pixel-seconds" ? 1280 * 720 : 1),
      billedSeconds: 0,
      chargedMicros: 0,
      paidWei: r.payments?.paidWei ?? 0n,
    };
    const l: Live = { s, key, payments: r.payments, lastBilledAt: now, paidWeiBilled: 0n, busy: false, failedChecks: 0, failedTicks: 0, timer: setInterval(() => void this.tick(l), this.o.intervalMs) };
    l.timer.unref();
    this.live.set(s.id, l);
    log.info({ session: s.id, app, orchestrator: c.orchestrator, key: key.id }, "app session started");
    return s;
  }

  /** One interval: pay, bill, check the session is still alive at the orchestrator. */
  private async tick(l: Live): Promise<void> {
    if (l.busy || l.s.endedAt) return;
    l.busy = true;
    try {
      if (l.payments) {
        try {
          await l.payments.cycle();
          l.s.paidWei = l.payments.paidWei;
        } catch (err) {
          await this.end(l, "payment", `payment failed: ${(err as Error).message}`);
          return;
        }
      }
      if (!(await this.bill(l, false))) return;
      let alive;
      try {
        alive = await call(l.s.reservation.control_url, "GET");
      } catch (err) {
        await this.end(l, "orchestrator-unreachable", `orchestrator ${l.s.orchestrator} unreachable: ${(err as Error).message}`);
        return;
      }
      if (alive.status === 404) return void (await this.end(l, "runner-failed", `the orchestrator ended the session: ${messageOf(alive.text)}`));
      // Any other error answer, interval after interval, is a session that is not running either.
      l.failedChecks = alive.status >= 200 && alive.status < 300 ? 0 : l.failedChecks + 1;
      if (l.failedChecks >= MAX_FAILED_INTERVALS) await this.end(l, "runner-failed", `the orchestrator answered ${alive.status} for the session ${l.failedChecks} times in a row: ${messageOf(alive.text)}`);
      l.failedTicks = 0;
    } catch (err) {
      // Something this interval could not do (the spend check with its database or Redis down, say):
      // the session goes on, and is ended once that lasts MAX_FAILED_INTERVALS intervals in a row.
      l.failedTicks++;
      log.warn({ session: l.s.id, err: (err as Error).message, failed: l.failedTicks }, "app session interval failed");
      if (l.failedTicks >= MAX_FAILED_INTERVALS) await this.end(l, "error", `${l.failedTicks} intervals in a row failed: ${(err as Error).message}`).catch((e: unknown) => log.error({ session: l.s.id, err: (e as Error).message }, "app session end failed"));
    } finally {
      l.busy = false;
    }
  }

  /** Bill the whole seconds since the last bill (all of them at the end). False when the spend cap ended the session. */
  private async bill(l: Live, final: boolean): Promise<boolean> {
    // The final bill runs to the moment the session ended, not to when stopping it at the orchestrator returned.
    const now = final ? (l.s.endedAt ?? Date.now()) : Date.now();
    const seconds = final ? Math.ceil((now - l.lastBilledAt) / 1000) : Math.floor((now - l.lastBilledAt) / 1000);
    if (seconds <= 0) return true;
    const pipeline = appPipeline(this.o.accounts.priceBook, l.s.app);
    const costWei = BigInt(Math.ceil(l.s.weiPerSecond * seconds));
    if (!final) {
      // These seconds and what a final bill at the next interval could add (the interval and a
      // started second) must fit under the cap; else the session ends now, and its final bill
      // (these seconds and the started one) stays under the cap.
      const ahead = Math.ceil(this.o.intervalMs / 1000) + 1;
      const micros = this.o.accounts.priceBook.charge({ pipeline, units: seconds + ahead, durationMs: (seconds + ahead) * 1000, orchestratorCostWei: BigInt(Math.ceil(l.s.weiPerSecond * (seconds + ahead))) });
      const d = await this.o.accounts.checkSpend(l.key, micros);
      if (!d.ok) {
        await this.end(l, "spend-cap", d.message);
        return false;
      }
    }
    l.lastBilledAt += seconds * 1000;
    const paidDelta = l.s.paidWei - l.paidWeiBilled;
    l.paidWeiBilled = l.s.paidWei;
    const seq = l.s.billedSeconds;
    l.s.billedSeconds += seconds;
    try {
      const rec = await this.o.accounts.recordStreamUsage({
        keyId: l.key.id, streamId: l.s.id, pipeline, durationSeconds: seconds, pixels: 0,
        orchestrator: l.s.orchestrator, orchestratorCostWei: costWei, paidWei: paidDelta > 0n ? paidDelta : 0n, requestId: `${l.s.id}:${seq}`,
      });
      l.s.chargedMicros += rec.chargeMicros;
    } catch (err) {
      log.error({ session: l.s.id, err: (err as Error).message }, "app session usage not recorded");
    }
    return true;
  }

  /** End a session: release the runner (best effort), bill the rest, tell whoever listens. */
  async end(lOrId: Live | string, reason: SessionEndReason, detail?: string): Promise<AppSession | undefined> {
    const l = typeof lOrId === "string" ? this.live.get(lOrId) : lOrId;
    if (!l || l.s.endedAt) return l?.s;
    l.s.endedAt = Date.now();
    l.s.endReason = reason;
    l.s.endDetail = detail;
    clearInterval(l.timer);
    this.live.delete(l.s.id);
    this.ended.set(l.s.id, l.s);
    if (this.ended.size > MAX_ENDED_KEPT) this.ended.delete(this.ended.keys().next().value!);
    if (reason !== "runner-failed" && reason !== "orchestrator-unreachable") {
      await call(`${l.s.reservation.control_url}/stop`, "POST").catch((err: Error) => log.warn({ session: l.s.id, err: err.message }, "stop at the orchestrator failed"));
    }
    await this.bill(l, true);
    if (reason === "runner-failed" || reason === "orchestrator-unreachable") this.o.registry.reportFailure(l.s.orchestrator, "network");
    void this.o.registry.refreshApps(l.s.orchestrator);
    log.info({ session: l.s.id, reason, detail }, "app session ended");
    this.o.onEnded?.({ sessionId: l.s.id, app: l.s.app, keyId: l.s.keyId, orchestrator: l.s.orchestrator, reason, ...(detail ? { detail } : {}), durationSeconds: Math.round((l.s.endedAt - l.s.startedAt) / 1000) });
    return l.s;
  }

  async endKey(keyId: string, reason: SessionEndReason): Promise<void> {
    await Promise.all([...this.live.values()].filter((l) => l.key.id === keyId).map((l) => this.end(l, reason)));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.live.values()].map((l) => this.end(l, "shutdown")));
  }
}
