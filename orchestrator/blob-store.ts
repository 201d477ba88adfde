// In-memory store of results the orchestrator serves by URL for a while: transcoded
// renditions under /stream/... (the gateway downloads them right after TranscodeResult)
// and batch AI results under /ai/results/...
import { randomBytes } from "node:crypto";

export class BlobStore {
  private readonly items = new Map<string, { data: Buffer; contentType: string; expiresAt: number }>();
  private bytes = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly ttlMs = 2 * 60 * 1000,
    /** Oldest items are evicted beyond this many bytes. */
    readonly maxBytes = 512 * 1024 * 1024,
    /** URL path prefix of the items. */
    readonly prefix = "/stream",
  ) {
    this.timer = setInterval(() => this.sweep(), Math.min(ttlMs, 10_000));
    this.timer.unref();
  }

  /** Stores the bytes; returns the path ("<prefix>/<random>/<name>"). */
  put(name: string, data: Buffer, contentType = "video/mp2t"): string {
    const safe = name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100) || "r";
    const path = `${this.prefix}/${randomBytes(12).toString("hex")}/${safe}`;
    this.items.set(path, { data, contentType, expiresAt: Date.now() + this.ttlMs });
    this.bytes += data.length;
    for (const [k, v] of this.items) {
      if (this.bytes <= this.maxBytes || this.items.size <= 1) break;
      this.items.delete(k);
      this.bytes -= v.data.length;
    }
    return path;
  }

  get(path: string): { data: Buffer; contentType: string } | undefined {
    const it = this.items.get(path);
    if (!it) return undefined;
    if (it.expiresAt <= Date.now()) {
      this.items.delete(path);
      this.bytes -= it.data.length;
      return undefined;
    }
    return it;
  }

  get size(): number {
    return this.items.size;
  }

  sweep(): void {
    const now = Date.now();
    for (const [k, v] of this.items) {
      if (v.expiresAt <= now) {
        this.items.delete(k);
        this.bytes -= v.data.length;
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.items.clear();
    this.bytes = 0;
  }
}
