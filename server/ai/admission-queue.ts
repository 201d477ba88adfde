// The batch AI admission queue: a request that found every candidate orchestrator at capacity
// waits here for a slot instead of being refused, so a burst becomes steady orchestrator work.
//
// - Lanes: one per (pipeline, model), since capacity is per model runner; a slot freed on a
//   text-to-image runner says nothing about an LLM's.
// - Fairness: within a lane, turns go round-robin over API keys (each key's own requests in
//   arrival order): one key's burst of a thousand does not starve another key's single request.
// - A turn is given when a slot may have freed: an orchestrator call of the lane ended
//   (`release`), or, when nothing ended for POLL_MS, as a probe (an orchestrator may have
//   grown, a busy cool-down ended, another gateway's work finished).
// - Bounds: `maxLength` waiters in all (then 503 at once), each waits at most `timeoutMs`
//   from when it first found no room (then 503 with Retry-After). A client that hangs up
//   leaves the queue.
// - Cost: nothing when nobody waits. The service reads `length` (a field) on its hot path;
//   the one timer (deadlines and probes) runs only while someone waits.
import type { Cancellation } from "./cancellation.ts";

/** How often deadlines and idle lanes are looked at while someone waits. */
const QUEUE_TICK_MS = 25;
/** A lane whose waiters got no turn for this long gets one (a probe of the orchestrators). */
const POLL_MS = 250;

export class QueueRefusal extends Error {
  constructor(
    readonly reason: "timeout" | "full" | "cancelled" | "closing",
    message: string,
  ) {
    super(message);
    this.name = "QueueRefusal";
  }
}

interface Waiter {
  keyId: string;
  deadline: number;
  resolve: () => void;
  reject: (err: QueueRefusal) => void;
  offCancel?: () => void;
}

interface Lane {
  /** Each key's waiters in arrival order; the Map's order is the round-robin order of keys. */
  keys: Map<string, Waiter[]>;
  size: number;
  lastTurnAt: number;
}

export interface AdmissionQueueOptions {
  /** Longest wait of a request, from when it first found no room (ms). */
  timeoutMs: number;
  /** Requests waiting in all lanes together. */
  maxLength: number;
  now?: () => number;
}

export class AdmissionQueue {
  /** Requests waiting in all lanes. */
  length = 0;
  private readonly lanes = new Map<string, Lane>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: AdmissionQueueOptions) {
    this.now = opts.now ?? Date.now;
  }

  get timeoutMs(): number {
    return this.opts.timeoutMs;
  }

  /** Requests of this lane are waiting (a newcomer queues behind them rather than overtaking). */
  has(lane: string): boolean {
    return this.lanes.has(lane);
  }

  /**
   * Waits for a turn in `lane`. `since`: when the request first found no room (its deadline
   * counts from there). `rejoin`: it had a turn and found no room again, so it goes back to
   * the head of its key's line. Rejects with QueueRefusal (full, timeout, cancelled).
   */
  wait(lane: string, keyId: string, since: number, cancel?: Cancellation, rejoin = false): Promise<void> {
    if (cancel?.cancelled) return Promise.reject(new QueueRefusal("cancelled", cancel.reason ?? "client closed the request"));
    const deadline = since + this.opts.timeoutMs;
    if (this.now() >= deadline) return Promise.reject(this.timedOut());
    if (this.length >= this.opts.maxLength) {
      return Promise.reject(new QueueRefusal("full", `the admission queue is full (${this.opts.maxLength} requests are waiting for an orchestrator)`));
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { keyId, deadline, resolve, reject };
      let l = this.lanes.get(lane);
      if (!l) this.lanes.set(lane, (l = { keys: new Map(), size: 0, lastTurnAt: this.now() }));
      const line = l.keys.get(keyId);
      if (!line) l.keys.set(keyId, [w]);
      else if (rejoin) line.unshift(w);
      else line.push(w);
      l.size++;
      this.length++;
      if (cancel) {
        w.offCancel = cancel.onCancel((reason) => {
          if (this.remove(lane, w)) reject(new QueueRefusal("cancelled", reason));
        });
      }
      // Not unref'd: it lives only while requests wait, and close() ends it.
      this.timer ??= setInterval(() => this.tick(), QUEUE_TICK_MS);
    });
  }

  /** A slot of `lane` may have freed (an orchestrator call ended): the next key in turn gets it. */
  release(lane: string): void {
    const l = this.lanes.get(lane);
    if (l) this.turn(lane, l);
  }

  /** Refuses every waiter (shutdown). */
  close(): void {
    for (const [name, l] of this.lanes) {
      for (const line of l.keys.values()) for (const w of [...line]) if (this.remove(name, w)) w.reject(new QueueRefusal("closing", "the gateway is shutting down"));
    }
  }

  private timedOut(): QueueRefusal {
    return new QueueRefusal("timeout", `no orchestrator slot freed within the queue timeout of ${this.opts.timeoutMs} ms`);
  }

  /** Gives the head of the next key in turn its turn; that key moves to the back of the rotation. */
  private turn(lane: string, l: Lane): void {
    const first = l.keys.entries().next();
    if (first.done) return;
    const [keyId, line] = first.value;
    const w = line[0]!;
    this.remove(lane, w);
    // Round-robin: a key that still waits goes behind the others.
    const rest = l.keys.get(keyId);
    if (rest) {
      l.keys.delete(keyId);
      l.keys.set(keyId, rest);
    }
    l.lastTurnAt = this.now();
    w.resolve();
  }

  /** Takes a waiter out of its lane; false when it already left. */
  private remove(lane: string, w: Waiter): boolean {
    const l = this.lanes.get(lane);
    const line = l?.keys.get(w.keyId);
    const i = line ? line.indexOf(w) : -1;
    if (!l || !line || i < 0) return false;
    line.splice(i, 1);
    if (line.length === 0) l.keys.delete(w.keyId);
    l.size--;
    this.length--;
    w.offCancel?.();
    if (l.size === 0) this.lanes.delete(lane);
    if (this.length === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    return true;
  }

  private tick(): void {
    const now = this.now();
    for (const [name, l] of [...this.lanes]) {
      for (const line of [...l.keys.values()]) {
        for (const w of [...line]) if (w.deadline <= now && this.remove(name, w)) w.reject(this.timedOut());
      }
      if (this.lanes.get(name) === l && now - l.lastTurnAt >= POLL_MS) this.turn(name, l);
    }
  }
}
