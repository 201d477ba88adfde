// Re-hosted AI results: every image/video/audio an orchestrator returns (data URI
// or URL) is copied here and served at `GET /v1/results/{id}` so clients never
// talk to orchestrators.
// - Storage: results up to `memoryItemBytes` (default 256 KiB) stay in memory, larger
//   ones are files under `<dataDir>/ai-results/`; the index is in memory and the folder
//   is emptied at start (results do not survive a restart).
// - Ids: 32 random bytes, base64url (public, unguessable).
// - Expiry: `resultTtlSec` after creation; a sweep deletes expired files every minute.
// - Size bound: `maxBytes` in total (default 2 GiB); the oldest results are evicted first.
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

export class ResultStore {
  private readonly index = new Map<string, StoredResult>();
  private bytes = 0;
  private readonly timer: NodeJS.Timeout;
  readonly maxBytes: number;
  readonly maxItemBytes: number;

  constructor(private readonly opts: ResultStoreOptions) {
    rmSync(opts.dir, { recursive: true, force: true });
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    this.maxBytes = opts.maxBytes ?? 2 * 1024 ** 3;
    this.maxItemBytes = Math.min(opts.maxItemBytes ?? 1024 ** 3, this.maxBytes);
    this.timer = setInterval(() => void this.sweep(), 60_000);
    this.timer.unref();
  }

  private newId(): string {
    return randomBytes(32).toString("base64url");
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

  async putBuffer(data: Buffer, contentType: string): Promise<StoredResult> {
    if (data.length > this.maxItemBytes) throw new ResultTooLargeError(`result of ${data.length} bytes exceeds ${this.maxItemBytes}`);
    const id = this.newId();
    if (data.length <= (this.opts.memoryItemBytes ?? 256 * 1024)) return this.add(id, contentType, data.length, data);
    await writeFile(this.path(id), data, { mode: 0o600 });
    return this.add(id, contentType, data.length);
  }

  /** Stream a body to disk, bounded by maxItemBytes. */
  async putStream(body: Readable | AsyncIterable<Uint8Array>, contentType: string): Promise<StoredResult> {
    const id = this.newId();
    const p = this.path(id);
    let size = 0;
    const limit = this.maxItemBytes;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > limit) cb(new ResultTooLargeError(`result exceeds ${limit} bytes`));
        else cb(null, chunk);
      },
    });
    try {
      await pipeline(body instanceof Readable ? body : Readable.from(body), counter, createWriteStream(p, { mode: 0o600 }));
    } catch (err) {
      await rm(p, { force: true });
      throw err;
    }
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
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** `GET /v1/results/:id` (public: the id is the capability). Wharf's own error shape. */
  register(app: FastifyInstance): void {
    app.get("/v1/results/:id", async (req, reply) => {
      const { id } = req.params as { id: string };
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
