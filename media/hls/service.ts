// One HLS packager per stream, created when the stream first goes live.
import { reportHlsHeldBytes } from "../../core/metrics.ts";
import type { StreamHub } from "../hub/hub.ts";
import type { Stream } from "../hub/stream.ts";
import { HlsAudience } from "./audience.ts";
import { HlsPackager, type PackagerOptions } from "./packager.ts";

/** A playlist request for a live stream without a segment yet waits this many target durations for the first. */
const FIRST_SEGMENT_WAIT_TARGETS = 2;
/** A blocking playlist reload, or a request for the hinted part, is held at most this many target durations (RFC 8216bis: 3). */
const BLOCKING_WAIT_TARGETS = 3;

export class HlsService {
  private readonly packagers = new Map<string, HlsPackager>();
  /** Who is watching: clients reading media playlists within the viewer window (default 30 s). */
  readonly audience: HlsAudience;
  readonly firstSegmentWaitMs: number;
  readonly blockingWaitMs: number;

  constructor(
    private readonly hub: StreamHub,
    private readonly opts: PackagerOptions & { audienceWindowMs?: number },
  ) {
    this.audience = new HlsAudience(opts.audienceWindowMs ?? 30_000);
    this.firstSegmentWaitMs = FIRST_SEGMENT_WAIT_TARGETS * opts.targetDuration * 1000;
    this.blockingWaitMs = BLOCKING_WAIT_TARGETS * opts.targetDuration * 1000;
    reportHlsHeldBytes(() => [...this.packagers.values()].reduce((sum, p) => sum + p.heldBytes(), 0));
    hub.on("published", (stream) => this.ensure(stream));
    hub.on("removed", (streamId) => this.remove(streamId));
  }

  ensure(stream: Stream): HlsPackager {
    let p = this.packagers.get(stream.id);
    if (!p) {
      p = new HlsPackager(stream, this.opts);
      this.packagers.set(stream.id, p);
    }
    return p;
  }

  /** Whether a stream of that id exists at all (live or not). */
  knows(streamId: string): boolean {
    return this.hub.get(streamId) !== undefined;
  }

  get(streamId: string): HlsPackager | undefined {
    return this.packagers.get(streamId);
  }

  remove(streamId: string): void {
    this.packagers.get(streamId)?.close();
    this.packagers.delete(streamId);
    this.audience.forget(streamId);
  }
}
