// Multistream: while a stream is live, each of its targets (options.multistream) gets one push; the API and events see their state.
import { EventEmitter } from "node:events";
import { metrics } from "../../core/metrics.ts";
import type { StreamHub } from "../hub/hub.ts";
import type { Stream } from "../hub/stream.ts";
import { DEFAULT_PUSH_TIMING, MultistreamPush, type PushState, type PushTiming } from "./push.ts";
import { parseMultistreamTargets, type MultistreamTarget } from "./targets.ts";

export interface TargetStateChange {
  streamId: string;
  /** Position in the stream's multistream list. */
  target: number;
  /** With the stream key hidden. */
  url: string;
  rendition: string;
  state: PushState;
  error: string | null;
}

export interface MultistreamEvents {
  state: [TargetStateChange];
}

function targetsOf(stream: Stream): MultistreamTarget[] {
  const parsed = parseMultistreamTargets(stream.record.options.multistream ?? []);
  return parsed.ok ? parsed.targets : [];
}

const keyOf = (t: MultistreamTarget) => `${t.rendition}|${t.url}`;

export class MultistreamService extends EventEmitter<MultistreamEvents> {
  /** Live streams' pushes, in the order of their targets. */
  private readonly pushes = new Map<string, MultistreamPush[]>();

  constructor(
    private readonly hub: StreamHub,
    private readonly timing: PushTiming = DEFAULT_PUSH_TIMING,
  ) {
    super();
    hub.on("published", (stream) => this.reconcile(stream));
    hub.on("unpublished", (stream) => void this.stopStream(stream.id));
    hub.on("removed", (id) => void this.stopStream(id));
  }

  /** Starts the targets a live stream lacks and stops the ones no longer listed (PATCH while live). */
  reconcile(stream: Stream): void {
    if (!stream.live) return;
    const wanted = targetsOf(stream);
    const old = this.pushes.get(stream.id) ?? [];
    const next: MultistreamPush[] = [];
    for (const t of wanted) {
      const i = old.findIndex((p) => keyOf(p.target) === keyOf(t));
      next.push(i >= 0 ? old.splice(i, 1)[0]! : this.startPush(stream.id, t));
    }
    this.pushes.set(stream.id, next);
    for (const p of old) void p.stop();
    if (next.length === 0) this.pushes.delete(stream.id);
  }

  private startPush(streamId: string, target: MultistreamTarget): MultistreamPush {
    const push = new MultistreamPush(target, this.hub.get(streamId)!.outputs, this.timing);
    push.on("state", (state, error) => {
      this.countStates();
      const index = this.pushes.get(streamId)?.indexOf(push) ?? -1;
      this.emit("state", { streamId, target: Math.max(0, index), url: push.label, rendition: target.rendition, state, error });
    });
    return push;
  }

  private async stopStream(streamId: string): Promise<void> {
    const pushes = this.pushes.get(streamId);
    if (!pushes) return;
    // Kept listed until stopped, so the disconnected events still name the target's position.
    await Promise.all(pushes.map((p) => p.stop()));
    if (this.pushes.get(streamId) === pushes) this.pushes.delete(streamId);
    this.countStates();
  }

  /** Per target of a live stream, in list order; undefined when the stream runs no push. */
  status(streamId: string): Array<Record<string, unknown>> | undefined {
    return this.pushes.get(streamId)?.map((p) => p.view());
  }

  private countStates(): void {
    const counts: Record<PushState, number> = { connected: 0, error: 0, disconnected: 0 };
    for (const list of this.pushes.values()) for (const p of list) counts[p.state]++;
    for (const [state, n] of Object.entries(counts)) metrics.multistreamTargets.set({ state }, n);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.pushes.keys()].map((id) => this.stopStream(id)));
  }
}
