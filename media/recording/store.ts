// Recording metadata, durable as one JSON file per recording (<root>/<id>/recording.json) beside its media.
// In cluster mode the metadata is also written to an index every node reads (SharedRecordingIndex,
// PostgreSQL in server/recordings/): any node lists and describes every recording, while the media
// files stay on the disk of the node that recorded them.
import { moduleLogger } from "../../core/log.ts";
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

const log = moduleLogger("recording");

/** A recording as the shared index has it: which node holds its files. */
export interface IndexedRecording {
  recording: Recording;
  nodeId: string;
}

export interface RecordingFilter {
  streamId?: string;
  ownerKeyId?: string;
}

/** The recordings index shared by the nodes of a cluster; this node writes its own recordings there. */
export interface SharedRecordingIndex {
  /** This node, as the index names the holder of a recording's files. */
  readonly nodeId: string;
  put(rec: Recording): Promise<void>;
  remove(id: string): Promise<void>;
  get(id: string): Promise<IndexedRecording | undefined>;
  /** Newest first. */
  list(filter: RecordingFilter): Promise<IndexedRecording[]>;
}

/** Where a recording looked up by id is: here (its files on this disk) or on another node. */
export type RecordingLookup = { recording: Recording; local: true } | { recording: Recording; local: false; nodeId: string };

export class RecordingStore {
  private readonly byId = new Map<string, Recording>();
  private shared: SharedRecordingIndex | undefined;
  /** Per recording: the write to the shared index in flight and whether a newer one waits behind it. */
  private readonly sharing = new Map<string, { running: Promise<void>; again: boolean }>();

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
  list(filter: RecordingFilter = {}): Recording[] {
    return [...this.byId.values()]
      .filter((r) => (filter.streamId === undefined || r.streamId === filter.streamId) && (filter.ownerKeyId === undefined || r.ownerKeyId === filter.ownerKeyId))
      .sort((a, b) => b.startedAt - a.startedAt);
  }

  /**
   * save, for the recorder's background writes: a failure (the disk full) is logged, not thrown,
   * so it cannot escape from a session's end or a segment's write as an unhandled rejection. The
   * recording stays as it is in memory; its next save writes it whole.
   */
  trySave(rec: Recording): boolean {
    try {
      this.save(rec);
      return true;
    } catch (err) {
      log.error({ recording: rec.id, err: (err as Error).message }, "could not save a recording's metadata");
      return false;
    }
  }

  /** Writes the metadata atomically (a crash leaves the old or the new file, never half of one). */
  save(rec: Recording): void {
    this.byId.set(rec.id, rec);
    const dir = this.dir(rec.id);
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `${METADATA_FILE}.tmp`);
    writeFileSync(tmp, JSON.stringify(rec));
    renameSync(tmp, join(dir, METADATA_FILE));
    this.share1(rec);
  }

  delete(id: string): boolean {
    const known = this.byId.delete(id);
    rmSync(this.dir(id), { recursive: true, force: true });
    const index = this.shared;
    if (index) {
      // After a write still in flight, or it would bring the entry back.
      void (this.sharing.get(id)?.running ?? Promise.resolve())
        .then(() => index.remove(id))
        .catch((err: Error) => log.warn({ recording: id, err: err.message }, "recording not removed from the shared index"));
    }
    return known;
  }

  /**
   * Cluster mode: writes this node's recordings to the shared index from now on (and those it
   * has now, so the index matches this disk after a restart).
   */
  async share(index: SharedRecordingIndex): Promise<void> {
    this.shared = index;
    for (const rec of this.byId.values()) await index.put(rec).catch((err: Error) => log.warn({ recording: rec.id, err: err.message }, "recording not written to the shared index"));
  }

  /** A recording by id: this node's, else (cluster mode) one another node holds. */
  async lookup(id: string): Promise<RecordingLookup | undefined> {
    const mine = this.byId.get(id);
    if (mine) return { recording: mine, local: true };
    const other = await this.shared?.get(id);
    if (!other) return undefined;
    if (other.nodeId === this.shared!.nodeId) return undefined; // ours once, not on this disk any more
    return { recording: other.recording, local: false, nodeId: other.nodeId };
  }

  /** Recordings of every node in cluster mode (this node's own as this disk has them), newest first. */
  async query(filter: RecordingFilter = {}): Promise<Recording[]> {
    if (!this.shared) return this.list(filter);
    const all = await this.shared.list(filter);
    return all.map((r) => this.byId.get(r.recording.id) ?? r.recording);
  }

  /** Writes the latest metadata of a recording to the shared index; writes coalesce (one in flight per recording). */
  private share1(rec: Recording): void {
    const index = this.shared;
    if (!index) return;
    const busy = this.sharing.get(rec.id);
    if (busy) {
      busy.again = true;
      return;
    }
    const entry = { running: Promise.resolve(), again: false };
    const write = async (): Promise<void> => {
      do {
        entry.again = false;
        const latest = this.byId.get(rec.id);
        if (!latest) break; // deleted meanwhile
        await index.put(latest).catch((err: Error) => log.warn({ recording: rec.id, err: err.message }, "recording not written to the shared index"));
      } while (entry.again);
      this.sharing.delete(rec.id);
    };
    this.sharing.set(rec.id, entry);
    entry.running = write();
  }
}
