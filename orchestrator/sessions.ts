// Transcoding sessions and capacity, like go-livepeer's maxSessions: a session
// is a manifest id seen recently; a new manifest id beyond capacity is refused
// (OrchestratorBusy). Sessions end after an idle timeout or EndTranscodingSession.
export class SessionTable {
  private readonly sessions = new Map<string, { lastSeen: number; tokenSessionId: string }>();

  constructor(
    public capacity: number,
    readonly idleTimeoutMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Admit a segment of `manifestId`; false when it would open a session beyond capacity. */
  admit(manifestId: string, tokenSessionId: string): boolean {
    this.expire();
    const s = this.sessions.get(manifestId);
    if (s) {
      s.lastSeen = this.now();
      s.tokenSessionId = tokenSessionId;
      return true;
    }
    if (this.sessions.size >= this.capacity) return false;
    this.sessions.set(manifestId, { lastSeen: this.now(), tokenSessionId });
    return true;
  }

  /** End every session opened with this auth token session id. */
  endByToken(tokenSessionId: string): number {
    let n = 0;
    for (const [k, v] of this.sessions) {
      if (v.tokenSessionId === tokenSessionId) {
        this.sessions.delete(k);
        n++;
      }
    }
    return n;
  }

  get active(): number {
    this.expire();
    return this.sessions.size;
  }

  private expire(): void {
    const limit = this.now() - this.idleTimeoutMs;
    for (const [k, v] of this.sessions) if (v.lastSeen < limit) this.sessions.delete(k);
  }
}
