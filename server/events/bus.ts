// The event bus: Wharf's events go to every subscriber as they happen, and the most recent
// ones are kept in a bounded ring for clients that connect (or reconnect) later.
import { moduleLogger } from "../../core/log.ts";
import type { WharfEvent, WharfEventData, WharfEventType } from "./types.ts";

const log = moduleLogger("events");

/** Events kept for replay. */
export const DEFAULT_EVENT_RING_CAPACITY = 1000;

export interface EventBusOptions {
  capacity?: number;
  now?: () => number;
}

export type EventListener = (event: WharfEvent) => void;

export class EventBus {
  readonly capacity: number;
  private readonly ring: Array<WharfEvent | undefined>;
  /** Index of the oldest kept event. */
  private head = 0;
  private count = 0;
  private nextId: number;
  private readonly listeners = new Set<EventListener>();
  private readonly now: () => number;

  constructor(opts: EventBusOptions = {}) {
    this.capacity = Math.max(1, opts.capacity ?? DEFAULT_EVENT_RING_CAPACITY);
    this.ring = new Array<WharfEvent | undefined>(this.capacity);
    this.now = opts.now ?? Date.now;
    // Ids start at the start time in microseconds: they keep growing across restarts, so a
    // client's Last-Event-ID from before a restart is older than every new event (and the
    // ring is replayed whole) instead of matching an unrelated one.
    this.nextId = this.now() * 1000;
  }

  publish<T extends WharfEventType>(type: T, data: WharfEventData[T]): WharfEvent {
    const t = this.now();
    const event = { id: this.nextId++, type, at: new Date(t).toISOString(), data } as WharfEvent;
    if (this.count < this.capacity) {
      this.ring[(this.head + this.count) % this.capacity] = event;
      this.count++;
    } else {
      this.ring[this.head] = event;
      this.head = (this.head + 1) % this.capacity;
    }
    for (const fn of this.listeners) {
      try {
        fn(event);
      } catch (err) {
        log.warn({ type, err: (err as Error).message }, "event listener failed");
      }
    }
    return event;
  }

  /** Calls `fn` with every event published from now on; returns the unsubscribe. */
  subscribe(fn: EventListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  get size(): number {
    return this.count;
  }

  /**
   * Kept events, oldest first: those after `afterId` (all kept ones when `afterId` is older
   * than the oldest kept, i.e. some were missed), of the given types, at most `limit` (the newest).
   */
  recent(opts: { afterId?: number; types?: ReadonlySet<string>; limit?: number; match?: (e: WharfEvent) => boolean } = {}): WharfEvent[] {
    const out: WharfEvent[] = [];
    for (let i = 0; i < this.count; i++) {
      const e = this.ring[(this.head + i) % this.capacity]!;
      if (opts.afterId !== undefined && e.id <= opts.afterId) continue;
      if (opts.types && !opts.types.has(e.type)) continue;
      if (opts.match && !opts.match(e)) continue;
      out.push(e);
    }
    return opts.limit !== undefined && out.length > opts.limit ? out.slice(out.length - opts.limit) : out;
  }
}
