// One session's recording: the rendition's segments written to disk as they complete.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { moduleLogger } from "../../core/log.ts";
import type { LiveSegment } from "../../core/live-segment.ts";
import type { StreamOutputs } from "../hub/outputs.ts";
import type { Recording, RecordingStore } from "./store.ts";

const log = moduleLogger("recording");

export class SessionRecorder {
  private chain: Promise<void> = Promise.resolve();
  private breakNext = false;
  private finished = false;

  constructor(
    readonly recording: Recording,
    private readonly store: RecordingStore,
    private readonly outputs: StreamOutputs,
    /** The rendition recorded (the source; a live AI stream's AI output). */
    private readonly rendition: string,
  ) {
    outputs.on("segment", this.onSegment);
    outputs.on("gap", this.onGap);
    outputs.on("discontinuity", this.onDiscontinuity);
    store.save(recording);
  }

  private readonly onSegment = (rendition: string, seg: LiveSegment): void => {
    if (rendition !== this.rendition) return;
    // Written in order, each once its last byte arrived; a segment being written holds up only the ones after it.
    const done = seg.bytes();
    done.catch(() => {});
    this.chain = this.chain.then(async () => {
      let bytes: Buffer;
      try {
        bytes = await done;
      } catch {
        this.breakNext = true; // an aborted segment is a hole in the timeline
        return;
      }
      const index = this.recording.segments.length;
      const uri = `${index}.ts`;
      try {
        await writeFile(join(this.store.dir(this.recording.id), uri), bytes);
      } catch (err) {
        log.error({ recording: this.recording.id, err: (err as Error).message }, "could not write a recorded segment");
        this.breakNext = true;
        return;
      }
      this.recording.segments.push({ uri, duration: seg.duration, size: bytes.length, discontinuity: seg.discontinuity || this.breakNext });
      this.breakNext = false;
      this.store.trySave(this.recording);
    });
  };

  private readonly onGap = (rendition: string): void => {
    if (rendition === this.rendition) this.breakNext = true;
  };

  private readonly onDiscontinuity = (): void => {
    this.breakNext = true;
  };

  /** The session ended: stop listening, wait for the segments still being written. */
  async finish(): Promise<Recording> {
    if (!this.finished) {
      this.finished = true;
      this.outputs.off("segment", this.onSegment);
      this.outputs.off("gap", this.onGap);
      this.outputs.off("discontinuity", this.onDiscontinuity);
    }
    await this.chain;
    this.recording.endedAt ??= Date.now();
    this.recording.state = "processing";
    this.store.trySave(this.recording);
    return this.recording;
  }
}
