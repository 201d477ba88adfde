// One HLS packager per stream, created when the stream first goes live.
import type { StreamHub } from "../hub/hub.ts";
import type { Stream } from "../hub/stream.ts";
import { HlsAudience } from "./audience.ts";
import { HlsPackager, type PackagerOptions } from "./packager.ts";

export class HlsService {
  private readonly packagers = new Map<string, HlsPackager>();
  /** Who is watching: clients reading media playlists within three target durations (at least 6 s). */
  readonly audience: HlsAudience;

  constructor(hub: StreamHub, private readonly opts: PackagerOptions) {
    this.audience = new HlsAudience(Math.max(6000, 3 * opts.targetDuration * 1000));
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

  get(streamId: string): HlsPackager | undefined {
    return this.packagers.get(streamId);
  }

  remove(streamId: string): void {
    this.packagers.get(streamId)?.close();
    this.packagers.delete(streamId);
    this.audience.forget(streamId);
  }
}
