// The hot standby: a second orchestrator selected and, capacity allowing, with its session
// already started (channels created, params sent, output and events subscribed), so a swap
// skips discovery and setup. Its events subscription doubles as a health probe; a standby that
// fails is reported and replaced, and one that sat unused for `maxAgeMs` is recycled before the
// orchestrator's idle sweep could remove its channels.
import { moduleLogger } from "../../core/log.ts";
import type { OrchSession } from "./orchestrator-session.ts";

const log = moduleLogger("live-standby");

export interface StandbyDeps {
  /** Starts a session outside `exclude` (undefined when none accepted). */
  acquire(exclude: ReadonlySet<string>): Promise<OrchSession | undefined>;
  /** Addresses the standby must not use (the active one, recent failures). */
  exclude(): Set<string>;
  /** A standby session failed (reported to the registry by the caller). */
  onFailure(session: OrchSession, reason: string, detail: string): void;
  retryMs?: number;
  maxAgeMs?: number;
}

export class Standby {
  private session: OrchSession | undefined;
  private starting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly ageTimer: NodeJS.Timeout;
  private stopped = false;
  private readonly detach = new Map<OrchSession, () => void>();
  lastError: string | undefined;

  constructor(private readonly deps: StandbyDeps) {
    this.ageTimer = setInterval(() => this.recycleOld(), 5000);
    this.ageTimer.unref();
  }

  /** The ready session, if any (it stays the standby until taken). */
  get current(): OrchSession | undefined {
    return this.session;
  }

  get isStarting(): boolean {
    return this.starting !== undefined;
  }

  /** Make sure a standby exists or is being started. */
  ensure(): void {
    if (this.stopped || this.session || this.starting) return;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    this.starting = (async () => {
      let s: OrchSession | undefined;
      try {
        s = await this.deps.acquire(this.deps.exclude());
      } catch (err) {
        this.lastError = (err as Error).message;
      }
      if (this.stopped) {
        void s?.close();
        return;
      }
      if (!s) {
        this.lastError ??= "no other orchestrator available";
        this.retryTimer = setTimeout(() => this.ensure(), this.deps.retryMs ?? 2000);
        this.retryTimer.unref();
        return;
      }
      this.lastError = undefined;
      const onFailure = (reason: string, detail: string) => {
        if (this.session !== s) return;
        this.session = undefined;
        this.detach.delete(s!);
        void s!.close();
        this.deps.onFailure(s!, reason, detail);
        this.retryTimer = setTimeout(() => this.ensure(), 500);
        this.retryTimer.unref();
      };
      s.on("failure", onFailure);
      this.detach.set(s, () => s!.off("failure", onFailure));
      this.session = s;
      log.debug({ address: s.address, manifestId: s.urls.manifestId }, "live standby ready");
    })().finally(() => {
      this.starting = undefined;
    });
  }

  /** Hands the ready standby over (undefined when none is ready or it is unhealthy). */
  take(): OrchSession | undefined {
    const s = this.session;
    if (!s || s.failed || s.isClosed) return undefined;
    this.session = undefined;
    this.detach.get(s)?.();
    this.detach.delete(s);
    return s;
  }

  /** Forward a params update to the standby so it is in sync when promoted. */
  updateParams(params: Record<string, unknown>): void {
    void this.session?.updateParams(params).catch(() => undefined);
  }

  private recycleOld(): void {
    const s = this.session;
    if (!s || this.stopped) return;
    if (Date.now() - s.createdAt > (this.deps.maxAgeMs ?? 4 * 60_000)) {
      this.session = undefined;
      this.detach.get(s)?.();
      this.detach.delete(s);
      void s.close();
      this.ensure();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.ageTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const s = this.session;
    this.session = undefined;
    await s?.close();
  }
}
