// Recording metadata, durable as one JSON file per recording (<root>/<id>/recording.json) beside its media.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RecordedSegment } from "./playlist.ts";

export type RecordingState = "recording" | "processing" | "ready" | "failed";

export interface Recording {
  id: string;
  streamId: string;
  /** The stream's owner key when the session started (who may read and delete it). */
  ownerKeyId?: string;
  /** The ingest session this recording is of. */
  sessionId: string;
  state: RecordingState;
  /** ms since the epoch. */
  startedAt: number;
  endedAt?: number;
  readyAt?: number;
  segments: RecordedSegment[];
  /** Bytes of recording.mp4 once ready. */
  mp4Size?: number;
  /** Why the MP4 could not be made (state failed). */
  error?: string;
}

export const METADATA_FILE = "recording.json";

export class RecordingStore {
  private readonly byId = new Map<string, Recording>();

  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true });
    for (const id of readdirSync(root)) {
      const file = join(root, id, METADATA_FILE);
      if (!existsSync(file)) continue;
      try {
        this.byId.set(id, JSON.parse(readFileSync(file, "utf8")) as Recording);
      } catch {
        // A file torn by a crash mid-write cannot happen (rename below); anything else is not ours.
      }
    }
  }

  dir(id: string): string {
    return join(this.root, id);
  }

  get(id: string): Recording | undefined {
    return this.byId.get(id);
  }

  /** Newest first. */
  list(filter: { streamId?: string; ownerKeyId?: string } = {}): Recording[] {
    return [...this.byId.values()]
      .filter((r) => (filter.streamId === undefined || r.streamId === filter.streamId) && (filter.ownerKeyId === undefined || r.ownerKeyId === filter.ownerKeyId))
      .sort((a, b) => b.startedAt - a.startedAt);
  }

  /** Writes the metadata atomically (a crash leaves the old or the new file, never half of one). */
  save(rec: Recording): void {
    this.byId.set(rec.id, rec);
    const dir = this.dir(rec.id);
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `${METADATA_FILE}.tmp`);
    writeFileSync(tmp, JSON.stringify(rec));
    renameSync(tmp, join(dir, METADATA_FILE));
  }

  delete(id: string): boolean {
    const known = this.byId.delete(id);
    rmSync(this.dir(id), { recursive: true, force: true });
    return known;
  }
}
