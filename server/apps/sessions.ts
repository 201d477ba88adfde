// Persistent app sessions: one customer session is one reserved Live Runner session on one
// orchestrator (app state lives in the runner, so a failed runner ends the session, never a silent
// swap). Every interval the session is paid (tickets to the session's payment_url; a fixed price is
// paid once, at the reservation), billed to the key for the whole seconds since the last bill
// (spend cap checked first), and checked alive; stopping releases the runner's slot and closes the
// connections open through the session.
//
// Alive, as go-livepeer lets a gateway see it (it has no endpoint to ask about one session): the
// orchestrator answers its discovery and still lists the session's runner (a runner that fails its
// health check is left out, and its sessions are released), and it still has the session: a top-up,
// or in an interval without one a payment POST without credentials, is not answered 404 (checkAlive).
import { randomBytes } from "node:crypto";
import { request } from "undici";
import { moduleLogger } from "../../core/log.ts";
import { orchestratorDispatcher } from "../../protocol/http-agent.ts";
import { isHttpUrl, PAYER_ADDRESS_HEADER, type SessionReservation } from "../../protocol/apps/live-runner.ts";
import { readBoundedText } from "../../protocol/bounded-body.ts";
import { PaymentRefusal } from "../../protocol/payments/balance-session.ts";
import { PaymentPostError, type LivePaymentSession } from "../../protocol/payments/live-payments.ts";
import { PAYMENT_HEADER, SEGMENT_HEADER } from "../../protocol/segment-header.ts";
import type { Accounts, ApiKey } from "../accounts/index.ts";
import type { OrchestratorRegistry } from "../orchestrators/registry.ts";
import { appPipeline, runnerFixedWei, runnersFor, runnerUnit, runnerWeiPerSecond, type AppRunnerView } from "./catalogue.ts";
import { challengeOf, sessionPayments, type AppPayer } from "./payments.ts";

const log = moduleLogger("apps");

/** Ended sessions kept for GET (state, endReason, endDetail), oldest forgotten first. */
const MAX_ENDED_KEPT = 1000;
/** Runners tried for one session before giving up. */
const MAX_RESERVE_ATTEMPTS = 3;
/** A session whose interval fails this many times in a row (a payment, Wharf's spend check) is ended. */
const MAX_FAILED_INTERVALS = 3;
/** Reservation and stop answers are small JSON: more than this is not one. */
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
  /** A fixed price, paid once at the reservation (0 for a runner priced by time). */
  fixedWei: number;
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

/**
 * Why a reservation failed: the orchestrator did not answer properly ("network"), its payment
 * failed ("payment"), or it refused this reservation ("refused": nothing against the orchestrator).
 */
class ReserveError extends Error {
  constructor(
    readonly kind: "network" | "payment" | "refused",
    message: string,
  ) {
    super(message);
  }
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
  /**
   * Where the time the last passing spend check covered ends: a session the cap ended is billed to
   * there at most (a tick the machine ran late adds seconds no check covered; Wharf bears those).
   */
  allowedUntil: number;
  paidWeiBilled: bigint;
  busy: boolean;
  /** Payment cycles in a row that failed (the signer or the orchestrator did not answer, say). */
  failedPayments: number;
  /** Intervals in a row whose liveness check could not reach the orchestrator. */
  failedChecks: number;
  /** Intervals in a row that failed on Wharf's side (the spend check threw). */
  failedTicks: number;
  /** Closes each connection open through the session (a proxied request, a WebSocket). */
  open: Set<() => void>;
}

export interface AppSessionsOptions {
  registry: OrchestratorRegistry;
  accounts: Accounts;
  payer?: AppPayer;
  intervalMs: number;
  region?: string;
  onEnded?: (e: SessionEnded) => void;
}

/** A POST to the orchestrator's session API (reserve, stop): its status and (bounded) answer. */
async function call(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const signal = AbortSignal.timeout(ORCHESTRATOR_CALL_TIMEOUT_MS);
  const res = await request(url, { method: "POST", headers, body: "", dispatcher: orchestratorDispatcher(), signal });
  return { status: res.statusCode, text: await readBoundedText(res.body, MAX_CONTROL_ANSWER_BYTES, `POST ${url}`) };
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
    // The spend cap: a session must afford its first payment interval (and a fixed price).
    const projected = this.o.accounts.priceBook.charge({ pipeline, units: 1, durationMs: this.o.intervalMs, orchestratorCostWei: BigInt(Math.ceil(runnerWeiPerSecond(first.runner) * (this.o.intervalMs / 1000) + runnerFixedWei(first.runner))) });
    const spend = await this.o.accounts.checkSpend(key, projected);
    if (!spend.ok) throw new AppError(402, "spend_cap_reached", spend.message, { "retry-after": String(Math.max(1, Math.ceil((spend.resetsAt - Date.now()) / 1000))) });
    const reasons: string[] = [];
    for (const c of candidates.slice(0, MAX_RESERVE_ATTEMPTS)) {
      try {
        return this.start(key, app, c, await this.reserve(c));
      } catch (err) {
        reasons.push(`${c.orchestrator}: ${(err as Error).message}`);
        // Only an orchestrator that did not answer, or whose payment failed, is suspended from
        // other work: a refusal of this reservation (a runner gone since the last discovery, a
        // session that exists, a payer address the signer has not given yet) is about this runner.
        if (err instanceof AppError && err.status === 503) this.o.registry.reportBusy(c.orchestrator);
        else if (err instanceof ReserveError) {
          if (err.kind !== "refused") this.o.registry.reportFailure(c.orchestrator, err.kind);
        } else this.o.registry.reportFailure(c.orchestrator, "network");
        void this.o.registry.refreshApps(c.orchestrator);
      }
    }
    throw new AppError(503, "no_runner", `no runner of ${app} could be reserved: ${reasons.join("; ")}`, { "retry-after": "2" });
  }

  private async reserve(c: AppRunnerView): Promise<{ reservation: SessionReservation; payments?: LivePaymentSession }> {
    const payerAddress = this.o.payer?.address();
    const headers: Record<string, string> = payerAddress ? { [PAYER_ADDRESS_HEADER]: payerAddress } : {};
    const post = (h: Record<string, string>) =>
      call(c.runner.url, h).catch((err: Error) => {
        throw new ReserveError("network", `unreachable: ${err.message}`);
      });
    let r = await post(headers);
    let payments: LivePaymentSession | undefined;
    if (r.status === 402) {
      if (!this.o.payer) throw new ReserveError("refused", "payment: the runner wants payment and Wharf has no remote signer");
      let challenge;
      try {
        challenge = challengeOf(r.status, r.text);
      } catch (err) {
        // go-livepeer answers 402 without parameters to a request without Livepeer-Payer-Address.
        throw new ReserveError("refused", `payment: ${(err as Error).message}`);
      }
      payments = sessionPayments(this.o.payer, challenge, runnerUnit(c.runner));
      const paid = await payments.first().catch((err: Error) => {
        throw new ReserveError("payment", `payment: ${err.message}`);
      });
      r = await post({ ...headers, [PAYMENT_HEADER]: paid.payment, [SEGMENT_HEADER]: paid.segCreds });
    }
    if (r.status === 503) throw new AppError(503, "busy", `busy: ${r.text.slice(0, 200)}`);
    if (r.status !== 200) {
      const paymentRefused = payments !== undefined && (r.status === 400 || r.status === 402 || r.status === 403);
      throw new ReserveError(paymentRefused ? "payment" : r.status >= 500 ? "network" : "refused", `${paymentRefused ? "payment refused" : "reservation failed"} (${r.status}): ${r.text.slice(0, 200)}`);
    }
    let reservation: SessionReservation;
    try {
      reservation = JSON.parse(r.text) as SessionReservation;
    } catch {
      throw new ReserveError("refused", `reservation answer is not JSON: ${r.text.slice(0, 200)}`);
    }
    if (typeof reservation?.session_id !== "string" || !isHttpUrl(reservation.app_url) || !isHttpUrl(reservation.control_url)) {
      throw new ReserveError("refused", "reservation without session_id, or without an http(s) app_url and control_url");
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
      weiPerSecond: runnerWeiPerSecond(c.runner),
      fixedWei: runnerFixedWei(c.runner),
      billedSeconds: 0,
      chargedMicros: 0,
      paidWei: r.payments?.paidWei ?? 0n,
    };
    const l: Live = { s, key, payments: r.payments, lastBilledAt: now, allowedUntil: now + this.o.intervalMs, paidWeiBilled: 0n, busy: false, failedPayments: 0, failedTicks: 0, failedChecks: 0, open: new Set(), timer: setInterval(() => void this.tick(l), this.o.intervalMs) };
    l.timer.unref();
    this.live.set(s.id, l);
    log.info({ session: s.id, app, orchestrator: c.orchestrator, key: key.id }, "app session started");
    return s;
  }

  /**
   * A connection open through session `id` (a proxied request, a WebSocket): `close` cuts it when
   * the session ends. Call the function returned once it closed on its own. Undefined when the
   * session is not running.
   */
  track(id: string, close: () => void): (() => void) | undefined {
    const l = this.live.get(id);
    if (!l) return undefined;
    l.open.add(close);
    return () => void l.open.delete(close);
  }

  /** One interval: pay, bill, check the session is still alive. */
  private async tick(l: Live): Promise<void> {
    if (l.busy || l.s.endedAt) return;
    l.busy = true;
    try {
      const paid = l.payments && !l.s.fixedWei ? await this.pay(l, l.payments) : "none";
      if (paid === "ended" || l.s.endedAt) return;
      if (!(await this.bill(l, false)) || l.s.endedAt) return;
      await this.checkAlive(l, paid === "posted");
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

  /**
   * Whether the session still runs: its orchestrator answers its discovery and lists its runner,
   * and (when this interval posted no top-up that would have said so) it still has the session: a
   * `POST {control_url}/payment` without credentials is answered 404 by go-livepeer only when it
   * does not (403 or 400 for the missing payment otherwise, 409 for a fixed price), and changes
   * nothing. An orchestrator that cannot be reached MAX_FAILED_INTERVALS times in a row ends it.
   */
  private async checkAlive(l: Live, toppedUp: boolean): Promise<void> {
    const seen = await this.o.registry.appsSeen(l.s.orchestrator, this.o.intervalMs / 2);
    if (l.s.endedAt || !seen) return; // an orchestrator no longer in the registry's list may still serve it
    let unreachable = seen.error;
    if (unreachable === undefined && !seen.apps?.runners.some((r) => r.url === l.s.runnerUrl)) {
      return void (await this.end(l, "runner-failed", `orchestrator ${l.s.orchestrator} no longer lists the runner ${l.s.runnerUrl} (it failed its health check or was unregistered)`));
    }
    if (unreachable === undefined && !toppedUp) {
      const probe = await call(`${l.s.reservation.control_url}/payment`).catch((err: Error) => err);
      if (l.s.endedAt) return;
      if (probe instanceof Error) unreachable = probe.message;
      else if (probe.status === 404) return void (await this.end(l, "runner-failed", `the orchestrator no longer has the session: ${probe.text.slice(0, 200)}`));
    }
    l.failedChecks = unreachable === undefined ? 0 : l.failedChecks + 1;
    if (l.failedChecks >= MAX_FAILED_INTERVALS) await this.end(l, "orchestrator-unreachable", `orchestrator ${l.s.orchestrator} unreachable ${l.failedChecks} intervals in a row: ${unreachable}`);
  }

  /**
   * One payment cycle. False when it ended the session: the orchestrator no longer has it (404),
   * the signer refused (a price over the ceiling, refreshes exhausted), or cycles failed
   * MAX_FAILED_INTERVALS times in a row (what was paid ahead covers a few intervals).
   */
  private async pay(l: Live, payments: LivePaymentSession): Promise<"posted" | "skipped" | "ended"> {
    try {
      const r = await payments.cycle();
      l.s.paidWei = payments.paidWei;
      l.failedPayments = 0;
      return r === "paid" ? "posted" : "skipped";
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof PaymentPostError && err.status === 404) {
        await this.end(l, "runner-failed", `the orchestrator no longer has the session: ${message}`);
        return "ended";
      }
      l.failedPayments++;
      if (err instanceof PaymentRefusal || l.failedPayments >= MAX_FAILED_INTERVALS) {
        await this.end(l, "payment", `payment failed${l.failedPayments > 1 ? ` ${l.failedPayments} times in a row` : ""}: ${message}`);
        return "ended";
      }
      log.warn({ session: l.s.id, err: message, failed: l.failedPayments }, "app session payment failed; trying again next interval");
      return "skipped";
    }
  }

  /** Bill the whole seconds since the last bill (all of them at the end). False when the spend cap ended the session. */
  private async bill(l: Live, final: boolean): Promise<boolean> {
    // The final bill runs to the moment the session ended, not to when stopping it at the orchestrator returned.
    const ended = l.s.endedAt ?? Date.now();
    const now = final ? (l.s.endReason === "spend-cap" ? Math.min(ended, l.allowedUntil) : ended) : Date.now();
    const seconds = final ? Math.ceil((now - l.lastBilledAt) / 1000) : Math.floor((now - l.lastBilledAt) / 1000);
    if (seconds <= 0) return true;
    const pipeline = appPipeline(this.o.accounts.priceBook, l.s.app);
    // A fixed price goes with the first bill.
    const fixedWei = l.s.billedSeconds === 0 ? l.s.fixedWei : 0;
    const costWei = BigInt(Math.ceil(l.s.weiPerSecond * seconds + fixedWei));
    if (!final) {
      // These seconds and what a final bill at the next interval could add (the interval and a
      // started second) must fit under the cap; else the session ends now, and its final bill
      // (these seconds and the started one) stays under the cap.
      const ahead = Math.ceil(this.o.intervalMs / 1000) + 1;
      const micros = this.o.accounts.priceBook.charge({ pipeline, units: seconds + ahead, durationMs: (seconds + ahead) * 1000, orchestratorCostWei: BigInt(Math.ceil(l.s.weiPerSecond * (seconds + ahead) + fixedWei)) });
      const d = await this.o.accounts.checkSpend(l.key, micros);
      if (l.s.endedAt) return false; // ended meanwhile: its final bill covers these seconds
      if (!d.ok) {
        await this.end(l, "spend-cap", d.message);
        return false;
      }
      l.allowedUntil = l.lastBilledAt + (seconds + ahead) * 1000;
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
    // No traffic goes on unbilled: what is open through the session is cut with it.
    for (const close of l.open) close();
    l.open.clear();
    this.ended.set(l.s.id, l.s);
    if (this.ended.size > MAX_ENDED_KEPT) this.ended.delete(this.ended.keys().next().value!);
    // Released at the orchestrator too (best effort; go-livepeer's release is idempotent), unless it
    // cannot be reached: a runner missing from discovery may still hold the slot.
    if (reason !== "orchestrator-unreachable") {
      await call(`${l.s.reservation.control_url}/stop`).catch((err: Error) => log.warn({ session: l.s.id, err: err.message }, "stop at the orchestrator failed"));
    }
    await this.bill(l, true);
    // A runner's failure is its own, not its orchestrator's: only an orchestrator that stopped answering is held back from other work.
    if (reason === "orchestrator-unreachable") this.o.registry.reportFailure(l.s.orchestrator, "network");
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
