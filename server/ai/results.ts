// Re-hosted AI results: every image/video/audio an orchestrator returns (data URI
// or URL) is copied here and served at `GET /v1/results/{id}` so clients never
// talk to orchestrators.
// - Storage: results up to `memoryItemBytes` (default 256 KiB) stay in memory, packed
//   into large chunks (result-arena.ts), larger ones are files under
//   `<dataDir>/ai-results/`; the index is in memory (typed arrays, see ResultStore) and
//   the folder is emptied at start (results do not survive a restart).
// - Ids: 32 random bytes, base64url (public, unguessable).
// - Expiry: `resultTtlSec` after creation; expired results are removed every second.
// - Size bound: `maxBytes` in total (default 2 GiB) and `maxItems` results (default 1M);
//   the oldest results are evicted first.
// - Copies in progress: `reserve()` hands out the id before the bytes are here (the
//   batch AI answer does not wait for the copy from the orchestrator); a GET of that id
//   waits for the copy and answers 502 if it failed.
import { createReadStream, createWriteStream, mkdirSync, rmSync } from "node:fs";
import { rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyInstance } from "fastify";
import { errorBody } from "../../core/errors.ts";
import { RandomPool } from "../random-pool.ts";
import { ResultArena } from "./result-arena.ts";
import { moduleLogger } from "../../core/log.ts";

const log = moduleLogger("ai-results");

export interface StoredResult {
  id: string;
  contentType: string;
  size: number;
  /** Small results: the bytes, in memory (a view into the arena). */
  data?: Buffer;
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
  /** Most results kept at once (default 1,000,000; each costs ~100 bytes of index besides its bytes). */
  maxItems?: number;
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

/** A result id handed out before its bytes are here (service.ts answers before copying). */
export interface ReservedResult {
  id: string;
  /** Runs the copy and stores its bytes under the id; false (and GET answers 502 with the copy's error) if it failed. */
  fill(copy: () => Promise<ResultSource>): Promise<boolean>;
  /** The copy will never run (the request failed): GET answers 404. */
  abandon(): void;
}

// Slot states.
const FREE = 0;
const PENDING = 1;
const MEMORY = 2;
const DISK = 3;
const FAILED = 4;

class Reservation implements ReservedResult {
  constructor(
    private readonly store: ResultStore,
    private readonly seq: number,
    readonly id: string,
  ) {}
  fill(copy: () => Promise<ResultSource>): Promise<boolean> {
    return this.store.fillReserved(this.seq, copy);
  }
  abandon(): void {
    this.store.abandonReserved(this.seq);
  }
}

/**
 * The index is a ring of slots in creation order, which is also expiry order (one TTL for
 * all), kept in typed arrays: per result the heap holds only its id string (the key of
 * `ids`, seq = creation number). Small results' bytes live in a ResultArena.
 */
export class ResultStore {
  private readonly ids = new Map<string, number>();
  private readonly arena: ResultArena;
  private cap = 1024;
  private idOf: (string | undefined)[] = new Array(this.cap);
  private state = new Uint8Array(this.cap);
  private expires = new Float64Array(this.cap);
  private size = new Float64Array(this.cap);
  private pos = new Float64Array(this.cap);
  private ctype = new Uint16Array(this.cap);
  /** Oldest slot still in the ring, next slot to hand out (creation numbers). */
  private head = 0;
  private tail = 0;
  private readonly contentTypes: string[] = ["application/octet-stream"];
  private readonly contentTypeIds = new Map<string, number>([["application/octet-stream", 0]]);
  /** Why a copy failed (FAILED slots). */
  private readonly errors = new Map<number, string>();
  /** GETs waiting for a PENDING slot. */
  private readonly waiters = new Map<number, { done: Promise<void>; wake: () => void }>();
  private bytes = 0;
  private stored = 0;
  private readonly timer: NodeJS.Timeout;
  readonly maxBytes: number;
  readonly maxItemBytes: number;
  readonly memoryItemBytes: number;
  readonly maxItems: number;

  constructor(private readonly opts: ResultStoreOptions) {
    rmSync(opts.dir, { recursive: true, force: true });
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    this.maxBytes = opts.maxBytes ?? 2 * 1024 ** 3;
    this.maxItemBytes = Math.min(opts.maxItemBytes ?? 1024 ** 3, this.maxBytes);
    this.memoryItemBytes = opts.memoryItemBytes ?? 256 * 1024;
    this.maxItems = opts.maxItems ?? 1_000_000;
    this.arena = new ResultArena(Math.max(4 * 1024 * 1024, this.memoryItemBytes));
    this.timer = setInterval(() => this.sweep(), 1000);
    this.timer.unref();
  }

  private readonly random = new RandomPool();

  private newId(): string {
    const bytes = this.random.take(32);
    const id = bytes.toString("base64url");
    bytes.fill(0); // the id is a secret: no copy left behind in the pool
    return id;
  }

  private path(id: string): string {
    return join(this.opts.dir, id);
  }

  private slot(seq: number): number {
    return seq & (this.cap - 1);
  }

  /** Doubles the ring; slots move to their place under the new mask. */
  private grow(): void {
    const cap = this.cap * 2;
    const idOf: (string | undefined)[] = new Array(cap);
    const state = new Uint8Array(cap), expires = new Float64Array(cap), size = new Float64Array(cap), pos = new Float64Array(cap), ctype = new Uint16Array(cap);
    for (let seq = this.head; seq < this.tail; seq++) {
      const a = this.slot(seq), b = seq & (cap - 1);
      idOf[b] = this.idOf[a];
      state[b] = this.state[a]!;
      expires[b] = this.expires[a]!;
      size[b] = this.size[a]!;
      pos[b] = this.pos[a]!;
      ctype[b] = this.ctype[a]!;
    }
    this.cap = cap;
    this.idOf = idOf;
    this.state = state;
    this.expires = expires;
    this.size = size;
    this.pos = pos;
    this.ctype = ctype;
  }

  /** A new PENDING slot with a fresh id. */
  private allocate(): { seq: number; id: string } {
    if (this.tail - this.head === this.cap) this.grow();
    const seq = this.tail++;
    const id = this.newId();
    const i = this.slot(seq);
    this.idOf[i] = id;
    this.state[i] = PENDING;
    this.expires[i] = Date.now() + this.opts.ttlSec * 1000;
    this.size[i] = 0;
    this.ids.set(id, seq);
    return { seq, id };
  }

  private live(seq: number): boolean {
    return seq >= this.head && seq < this.tail && this.state[this.slot(seq)] !== FREE;
  }

  private contentTypeId(contentType: string): number {
    let n = this.contentTypeIds.get(contentType);
    if (n === undefined) {
      if (this.contentTypes.length > 0xffff) return 0;
      n = this.contentTypes.push(contentType) - 1;
      this.contentTypeIds.set(contentType, n);
    }
    return n;
  }

  /** Records the stored bytes of a live slot (MEMORY: `data` goes to the arena; DISK: the file is written). */
  private settle(seq: number, contentType: string, size: number, data?: Uint8Array): void {
    const i = this.slot(seq);
    if (data) this.pos[i] = this.arena.put(data);
    this.state[i] = data ? MEMORY : DISK;
    this.size[i] = size;
    this.ctype[i] = this.contentTypeId(contentType);
    this.bytes += size;
    this.stored++;
    this.wake(seq);
    this.evict();
  }

  private wake(seq: number): void {
    const w = this.waiters.get(seq);
    if (w) {
      this.waiters.delete(seq);
      w.wake();
    }
  }

  private evict(): void {
    while ((this.bytes > this.maxBytes || this.stored > this.maxItems) && this.stored > 1) {
      let seq = this.head;
      while (this.state[this.slot(seq)] !== MEMORY && this.state[this.slot(seq)] !== DISK) seq++;
      this.remove(seq);
    }
  }

  private remove(seq: number): void {
    if (!this.live(seq)) return;
    const i = this.slot(seq);
    const st = this.state[i];
    const id = this.idOf[i]!;
    if (st === MEMORY || st === DISK) {
      this.bytes -= this.size[i]!;
      this.stored--;
    }
    if (st === MEMORY) this.arena.release(this.pos[i]!);
    if (st === DISK) void rm(this.path(id), { force: true });
    this.state[i] = FREE;
    this.idOf[i] = undefined;
    this.ids.delete(id);
    this.errors.delete(seq);
    this.wake(seq);
    while (this.head < this.tail && this.state[this.slot(this.head)] === FREE) this.head++;
  }

  reserve(): ReservedResult {
    const { seq, id } = this.allocate();
    return new Reservation(this, seq, id);
  }

  /** ReservedResult.fill: run the copy, store its bytes (or its error) under the slot. */
  async fillReserved(seq: number, copy: () => Promise<ResultSource>): Promise<boolean> {
    try {
      const src = await copy();
      if (!this.live(seq)) {
        if ("stream" in src) {
          if (src.stream instanceof Readable) src.stream.destroy();
          else void (src.stream as AsyncGenerator).return?.(undefined);
        }
        return true; // expired or evicted meanwhile: nothing to keep
      }
      if ("data" in src) await this.storeBuffer(seq, src.data, src.contentType);
      else await this.storeStream(seq, src.stream, src.contentType);
      return true;
    } catch (err) {
      if (this.live(seq)) {
        this.state[this.slot(seq)] = FAILED;
        this.errors.set(seq, (err as Error).message);
        this.wake(seq);
      }
      return false;
    }
  }

  /** ReservedResult.abandon: the copy will never run. */
  abandonReserved(seq: number): void {
    this.remove(seq);
  }

  private async storeBuffer(seq: number, data: Buffer, contentType: string): Promise<void> {
    if (data.length > this.maxItemBytes) throw new ResultTooLargeError(`result of ${data.length} bytes exceeds ${this.maxItemBytes}`);
    if (data.length <= this.memoryItemBytes) return this.settle(seq, contentType, data.length, data);
    const id = this.idOf[this.slot(seq)]!;
    await writeFile(this.path(id), data, { mode: 0o600 });
    if (this.live(seq)) this.settle(seq, contentType, data.length);
    else await rm(this.path(id), { force: true });
  }

  private async storeStream(seq: number, body: Readable | AsyncIterable<Uint8Array>, contentType: string): Promise<void> {
    const id = this.idOf[this.slot(seq)]!;
    const size = await writeLimited(body, this.path(id), this.maxItemBytes);
    if (this.live(seq)) this.settle(seq, contentType, size);
    else await rm(this.path(id), { force: true });
  }

  /** Stores a result that is already here (a decoded data URI). */
  async putBuffer(data: Buffer, contentType: string): Promise<{ id: string }> {
    const { seq, id } = this.allocate();
    try {
      await this.storeBuffer(seq, data, contentType);
    } catch (err) {
      this.remove(seq);
      throw err;
    }
    return { id };
  }

  /** A stored, unexpired result (a copy still running or failed counts as not stored). */
  get(id: string): StoredResult | undefined {
    const seq = this.ids.get(id);
    if (seq === undefined) return undefined;
    const i = this.slot(seq);
    const st = this.state[i];
    if (st !== MEMORY && st !== DISK) return undefined;
    if (this.expires[i]! <= Date.now()) {
      this.sweep();
      return undefined;
    }
    const size = this.size[i]!;
    return {
      id,
      contentType: this.contentTypes[this.ctype[i]!]!,
      size,
      data: st === MEMORY ? this.arena.view(this.pos[i]!, size) : undefined,
      expiresAt: this.expires[i]!,
    };
  }

  get totalBytes(): number {
    return this.bytes;
  }

  get count(): number {
    return this.stored;
  }

  /** Removes expired slots (oldest first: the ring is in expiry order). */
  sweep(): void {
    const now = Date.now();
    while (this.head < this.tail && this.expires[this.slot(this.head)]! <= now) this.remove(this.head);
  }

  close(): void {
    clearInterval(this.timer);
    for (const w of this.waiters.values()) w.wake();
    this.waiters.clear();
  }

  /** Resolves when a PENDING slot is settled, failed or removed. */
  private settled(seq: number): Promise<void> {
    let w = this.waiters.get(seq);
    if (!w) {
      let wake!: () => void;
      const done = new Promise<void>((resolve) => (wake = resolve));
      w = { done, wake };
      this.waiters.set(seq, w);
    }
    return w.done;
  }

  /** `GET /v1/results/:id` (public: the id is the capability). Wharf's own error shape. */
  register(app: FastifyInstance): void {
    app.get("/v1/results/:id", async (req, reply) => {
      const { id } = req.params as { id: string };
      const seq = /^[A-Za-z0-9_-]{43}$/.test(id) ? this.ids.get(id) : undefined;
      if (seq !== undefined && this.state[this.slot(seq)] === PENDING) await this.settled(seq);
      if (seq !== undefined && this.live(seq) && this.state[this.slot(seq)] === FAILED) {
        return reply.code(502).send(errorBody(502, `the result could not be copied from the orchestrator: ${this.errors.get(seq)}`));
      }
      const r = seq !== undefined ? this.get(id) : undefined;
      if (!r) return reply.code(404).send(errorBody(404, "result not found or expired"));
      if (!r.data) try {
        await stat(this.path(id));
      } catch {
        this.remove(seq!);
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
