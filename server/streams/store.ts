// Stream records: what the API creates and ingest authenticates against.
import { randomBytes, randomUUID } from "node:crypto";
import type { Pipeline, StreamDirectory, StreamOptions, StreamRecord } from "../../media/hub/types.ts";

export interface NewStream {
  name: string;
  pipeline: Pipeline;
  ownerKeyId?: string;
  options: StreamOptions;
}

export interface StreamStore extends StreamDirectory {
  create(input: NewStream): StreamRecord;
  list(ownerKeyId?: string): StreamRecord[];
  update(id: string, options: StreamOptions): StreamRecord | undefined;
  delete(id: string): boolean;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A stream key safe inside an RTMP path: [A-Za-z0-9], 24 characters (~143 bits). */
export function newStreamKey(): string {
  const bytes = randomBytes(24);
  let out = "";
  for (const b of bytes) out += BASE62[b % 62];
  return out;
}

export function newStreamId(): string {
  return randomUUID();
}

/** In-memory store (unit tests and the pre-accounts bootstrap). */
export class MemoryStreamStore implements StreamStore {
  private readonly byId = new Map<string, StreamRecord>();

  create(input: NewStream): StreamRecord {
    const record: StreamRecord = { id: newStreamId(), streamKey: newStreamKey(), createdAt: Date.now(), ...input };
    this.byId.set(record.id, record);
    return record;
  }
  get(id: string): StreamRecord | undefined {
    return this.byId.get(id);
  }
  findByStreamKey(streamKey: string): StreamRecord | undefined {
    for (const r of this.byId.values()) if (r.streamKey === streamKey) return r;
    return undefined;
  }
  list(ownerKeyId?: string): StreamRecord[] {
    return [...this.byId.values()].filter((r) => ownerKeyId === undefined || r.ownerKeyId === ownerKeyId);
  }
  update(id: string, options: StreamOptions): StreamRecord | undefined {
    const r = this.byId.get(id);
    if (!r) return undefined;
    r.options = options;
    return r;
  }
  delete(id: string): boolean {
    return this.byId.delete(id);
  }
}
