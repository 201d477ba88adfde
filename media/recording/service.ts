// Recording of streams that ask for it (options.record): one recording per session, finalized to VOD when it ends.
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { moduleLogger } from "../../core/log.ts";
import type { StreamHub } from "../hub/hub.ts";
import type { Stream } from "../hub/stream.ts";
import { SOURCE_RENDITION } from "../processors/passthrough.ts";
import { AI_RENDITION } from "../live/live-session.ts";
import { MP4_FILE, PLAYLIST_FILE, remuxToMp4 } from "./mp4.ts";
import { vodPlaylist } from "./playlist.ts";
import { SessionRecorder } from "./session-recorder.ts";
import { RecordingStore, type Recording } from "./store.ts";

const log = moduleLogger("recording");

const DAY_MS = 86_400_000;
/** How often recordings past their retention are looked for. */
const SWEEP_INTERVAL_MS = 3_600_000;

export interface RecordingOptions {
  /** <dataDir>/recordings */
  root: string;
  /** Recordings older than this many days (since they ended) are deleted; 0 keeps them forever. */
  retentionDays: number;
}

export interface RecordingEvents {
  /** The MP4 is written: the recording can be downloaded. */
  ready: [Recording];
  failed: [Recording];
}

/** A stream records when its options say `record: true`. */
export function wantsRecording(stream: Stream): boolean {
  return stream.record.options.record === true;
}

/**
 * The rendition a stream's recording keeps: what its customer publishes. A live AI stream's is the
 * AI output ("ai"; its source is never published as a rendition), every other stream's the source.
 */
export function recordedRendition(stream: Stream): string {
  return stream.record.pipeline === "live-video-to-video" ? AI_RENDITION : SOURCE_RENDITION;
}

export class RecordingService extends EventEmitter<RecordingEvents> {
  readonly store: RecordingStore;
  private readonly active = new Map<string, SessionRecorder>();
  /** MP4s are made one at a time: remuxing is I/O-bound and must not starve live media. */
  private finalizing: Promise<void> = Promise.resolve();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly hub: StreamHub,
    private readonly opts: RecordingOptions,
  ) {
    super();
    this.store = new RecordingStore(opts.root);
    hub.on("published", this.onPublished);
    hub.on("unpublished", this.onUnpublished);
    // A crash or restart left some unfinished: their segments are on disk, finish them now.
    for (const rec of this.store.list()) {
      if (rec.state === "recording" || rec.state === "processing") {
        rec.endedAt ??= rec.segments.length ? rec.startedAt + rec.segments.reduce((s, x) => s + x.duration, 0) * 1000 : rec.startedAt;
        this.queueFinalize(rec);
      }
    }
    this.sweep();
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  private readonly onPublished = (stream: Stream): void => {
    if (!wantsRecording(stream) || !stream.session) return;
    const recording: Recording = {
      id: randomUUID(),
      streamId: stream.id,
      ...(stream.record.ownerKeyId ? { ownerKeyId: stream.record.ownerKeyId } : {}),
      sessionId: stream.session.id,
      state: "recording",
      startedAt: Date.now(),
      segments: [],
    };
    try {
      this.active.set(stream.id, new SessionRecorder(recording, this.store, stream.outputs, recordedRendition(stream)));
      log.info({ stream: stream.id, recording: recording.id, rendition: recordedRendition(stream) }, "recording");
    } catch (err) {
      log.error({ stream: stream.id, err: (err as Error).message }, "could not start a recording");
    }
  };

  private readonly onUnpublished = (stream: Stream): void => {
    const recorder = this.active.get(stream.id);
    if (!recorder) return;
    this.active.delete(stream.id);
    recorder.finish().then((rec) => this.queueFinalize(rec), (err: unknown) => log.error({ stream: stream.id, err: (err as Error).message }, "could not end a recording"));
  };

  /** The recording being written for a live stream, if any. */
  current(streamId: string): Recording | undefined {
    return this.active.get(streamId)?.recording;
  }

  private queueFinalize(rec: Recording): void {
    // One at a time; a finalize that fails is logged and does not stop the ones queued after it.
    this.finalizing = this.finalizing.then(() => this.finalize(rec)).catch((err: unknown) => log.error({ recording: rec.id, err: (err as Error).message }, "could not finalize a recording"));
  }

  private async finalize(rec: Recording): Promise<void> {
    if (!this.store.get(rec.id)) return; // deleted meanwhile
    const dir = this.store.dir(rec.id);
    try {
      if (rec.segments.length === 0) throw new Error("no media was recorded (the session ended before its first segment)");
      await writeFile(join(dir, PLAYLIST_FILE), vodPlaylist(rec.segments));
      rec.mp4Size = await remuxToMp4(dir);
      rec.state = "ready";
      rec.readyAt = Date.now();
    } catch (err) {
      rec.state = "failed";
      rec.error = `the MP4 could not be made: ${(err as Error).message.slice(0, 500)}`;
    }
    if (!this.store.get(rec.id) || !this.store.trySave(rec)) return;
    log.info({ recording: rec.id, stream: rec.streamId, state: rec.state, error: rec.error }, "recording finalized");
    this.emit(rec.state === "ready" ? "ready" : "failed", rec);
  }

  /** Deletes a recording and its files (one being written stops being recorded). */
  delete(id: string): boolean {
    for (const [streamId, recorder] of this.active) {
      if (recorder.recording.id === id) {
        this.active.delete(streamId);
        recorder.finish().catch(() => {}); // being deleted: nothing to keep
      }
    }
    return this.store.delete(id);
  }

  /** Deletes recordings that ended more than retentionDays ago; returns how many. */
  sweep(now = Date.now()): number {
    if (this.opts.retentionDays <= 0) return 0;
    const cutoff = now - this.opts.retentionDays * DAY_MS;
    let n = 0;
    for (const rec of this.store.list()) {
      if (rec.state === "recording" || rec.state === "processing") continue;
      if ((rec.endedAt ?? rec.startedAt) < cutoff && this.store.delete(rec.id)) n++;
    }
    if (n) log.info({ deleted: n, retentionDays: this.opts.retentionDays }, "recordings past retention deleted");
    return n;
  }

  /** Finishes the recordings being written (shutdown); their MP4s are made at the next start. */
  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.hub.off("published", this.onPublished);
    this.hub.off("unpublished", this.onUnpublished);
    await Promise.all([...this.active.values()].map((r) => r.finish()));
    this.active.clear();
  }

  /** Where a file of a recording is on disk. */
  file(id: string, name: string): string {
    return join(this.store.dir(id), name);
  }
}

export { MP4_FILE, PLAYLIST_FILE };
