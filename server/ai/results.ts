// Re-hosted AI results: every image/video/audio an orchestrator returns (data URI
// or URL) is copied here and served at `GET /v1/results/{id}` so clients never
// talk to orchestrators.
// - Storage: results up to `memoryItemBytes` (default 256 KiB) stay in memory, larger
//   ones are files under `<dataDir>/ai-results/`; the index is in memory and the folder
//   is emptied at start (results do not survive a restart).
// - Ids: 32 random bytes, base64url (public, unguessable).
// - Expiry: `resultTtlSec` after creation; a sweep deletes expired files every minute.
// - Size bound: `maxBytes` in total (default 2 GiB); the oldest results are evicted first.
// - Copies in progress: `reserve()` hands out the id before the bytes are here (the
//   batch AI answer does not wait for the copy from the orchestrator); a GET of that id
//   waits for the copy and answers 502 if it failed.
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, mkdirSync, rmSync } from "node:fs";
import { rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyInstance } from "fastify";
import { errorBody } from "../api/errors.ts";
import { moduleLogger } from "../log.ts";

const log = moduleLogger("ai-results");

export interface StoredResult {
  id: string;
  contentType: string;
  size: number;
  /** Small results: the bytes, in memory. */
  data?: Buffer;
  createdAt: number;
  expiresAt: number;
}

export interface ResultStoreOptions {
  dir: string;
  ttlSec: number;
  maxBytes?: number;
  /** Largest single result accepted (default 1 GiB). */
  maxItemBytes?: number;
  /** Results up to this size are kept in memory instead of a file (default 256 KiB). */
  memoryItemBytes?: number;
}

export class ResultTooLargeError extends Error {}

export type ResultSource = { data: Buffer; contentType: string } | { stream: Readable | AsyncIterable<Uint8Array>; contentType: string };

/** Streams a body into a new file (mode 0600), failing past `limit` bytes; the file is removed on failure. */
async function writeLimited(body: Readable | AsyncIterable<Uint8Array>, file: string, limit: number): Promise<number> {
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > limit) cb(new ResultTooLargeError(`result exceeds ${limit} bytes`));
      else cb(null, chunk);
    },
  });
  try {
    await pipeline(body instanceof Readable ? body : Readable.from(body), counter, createWriteStream(file, { mode: 0o600 }));
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
  return size;
}

export interface ReservedResult {
  id: string;
  /** Runs the copy and stores its bytes under the id; false (and GET answers 502 with the copy's error) if it failed. */
  fill(copy: () => Promise<ResultSource>): Promise<boolean>;
  /** The copy will never run (the request failed): GET answers 404. */
  abandon(): void;
}

interface CopyInProgress {
  done: Promise<void>;
  error?: string;
  expiresAt: number;
}

export class ResultStore {
  private readonly index = new Map<string, StoredResult>();
  private readonly copies = new Map<string, CopyInProgress>();
  private bytes = 0;
  private readonly timer: NodeJS.Timeout;
  readonly maxBytes: number;
  readonly maxItemBytes: number;
  readonly memoryItemBytes: number;

  constructor(private readonly opts: ResultStoreOptions) {
    rmSync(opts.dir, { recursive: true, force: true });
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    this.maxBytes = opts.maxBytes ?? 2 * 1024 ** 3;
    this.maxItemBytes = Math.min(opts.maxItemBytes ?? 1024 ** 3, this.maxBytes);
    this.memoryItemBytes = opts.memoryItemBytes ?? 256 * 1024;
    this.timer = setInterval(() => void this.sweep(), 60_000);
    this.timer.unref();
  }

  /** Random bytes drawn 8 KiB at a time: one getrandom() per 256 ids instead of one per id. */
  private pool = Buffer.alloc(0);
  private poolAt = 0;

  private newId(): string {
    if (this.poolAt + 32 > this.pool.length) {
      this.pool = randomBytes(8192);
      this.poolAt = 0;
    }
    const id = this.pool.toString("base64url", this.poolAt, this.poolAt + 32);
    this.pool.fill(0, this.poolAt, this.poolAt + 32);
    this.poolAt += 32;
    return id;
  }

  private path(id: string): string {
    return join(this.opts.dir, id);
  }

  private add(id: string, contentType: string, size: number, data?: Buffer): StoredResult {
    const now = Date.now();
    const r: StoredResult = { id, contentType, size, data, createdAt: now, expiresAt: now + this.opts.ttlSec * 1000 };
    this.index.set(id, r);
    this.bytes += size;
    this.evict();
    return r;
  }

  private evict(): void {
    while (this.bytes > this.maxBytes && this.index.size > 1) {
      const [id] = this.index.keys();
      this.remove(id!);
    }
  }

  private remove(id: string): void {
    const r = this.index.get(id);
    if (!r) return;
    this.index.delete(id);
    this.bytes -= r.size;
    if (!r.data) void rm(this.path(id), { force: true });
  }

  reserve(): ReservedResult {
    const id = this.newId();
    let settle!: () => void;
    const entry: CopyInProgress = { done: new Promise<void>((r) => (settle = r)), expiresAt: Date.now() + this.opts.ttlSec * 1000 };
    this.copies.set(id, entry);
    return {
      id,
      fill: async (copy) => {
        try {
          const src = await copy();
          if ("data" in src) await this.putBuffer(src.data, src.contentType, id);
          else await this.putStream(src.stream, src.contentType, id);
          this.copies.delete(id);
          return true;
        } catch (err) {
          entry.error = (err as Error).message;
          return false;
        } finally {
          settle();
        }
      },
      abandon: () => {
        this.copies.delete(id);
        settle();
      },
    };
  }

  async putBuffer(data: Buffer, contentType: string, id = this.newId()): Promise<StoredResult> {
    if (data.length > this.maxItemBytes) throw new ResultTooLargeError(`result of ${data.length} bytes exceeds ${this.maxItemBytes}`);
    if (data.length <= this.memoryItemBytes) return this.add(id, contentType, data.length, data);
    await writeFile(this.path(id), data, { mode: 0o600 });
    return this.add(id, contentType, data.length);
  }

  /** Stream a body to disk, bounded by maxItemBytes. */
  async putStream(body: Readable | AsyncIterable<Uint8Array>, contentType: string, id = this.newId()): Promise<StoredResult> {
    const size = await writeLimited(body, this.path(id), this.maxItemBytes);
    return this.add(id, contentType, size);
  }

  get(id: string): StoredResult | undefined {
    const r = this.index.get(id);
    if (!r) return undefined;
    if (r.expiresAt <= Date.now()) {
      this.remove(id);
      return undefined;
    }
    return r;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  get count(): number {
    return this.index.size;
  }

  async sweep(): Promise<void> {
    const now = Date.now();
    for (const [id, r] of this.index) if (r.expiresAt <= now) this.remove(id);
    for (const [id, c] of this.copies) if (c.error !== undefined && c.expiresAt <= now) this.copies.delete(id);
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** `GET /v1/results/:id` (public: the id is the capability). Wharf's own error shape. */
  register(app: FastifyInstance): void {
    app.get("/v1/results/:id", async (req, reply) => {
      const { id } = req.params as { id: string };
      const copy = this.copies.get(id);
      if (copy) {
        await copy.done;
        if (copy.error !== undefined) {
          return reply.code(502).send(errorBody(502, `the result could not be copied from the orchestrator: ${copy.error}`));
        }
      }
      const r = /^[A-Za-z0-9_-]{43}$/.test(id) ? this.get(id) : undefined;
      if (!r) return reply.code(404).send(errorBody(404, "result not found or expired"));
      if (!r.data) try {
        await stat(this.path(id));
      } catch {
        this.remove(id);
        return reply.code(404).send(errorBody(404, "result not found or expired"));
      }
      const maxAge = Math.max(0, Math.floor((r.expiresAt - Date.now()) / 1000));
      reply
        .type(r.contentType)
        .header("content-length", String(r.size))
        .header("cache-control", `private, max-age=${maxAge}, immutable`)
        .header("expires", new Date(r.expiresAt).toUTCString())
        .header("x-content-type-options", "nosniff");
      if (req.method === "HEAD") return reply.send();
      return reply.send(r.data ?? createReadStream(this.path(id)));
    });
    log.debug({ dir: this.opts.dir }, "result routes registered");
  }
}
