// Copies batch AI results from orchestrators into Wharf's result store on a worker
// thread (result-copier-thread.ts), so the GETs, their HTTP parsing and file writes
// stay off the event loop that answers requests. Small results come back as bytes
// (transferred), larger ones are written by the thread into the store's folder.
import type { Worker } from "node:worker_threads";
import { startModuleThread } from "../threads.ts";
import type { ResultSource } from "./results.ts";

export interface CopierConfig {
  /** The result store's folder (large results are written there as `<id>`). */
  dir: string;
  timeoutMs: number;
  maxItemBytes: number;
  /** Results up to this size come back as bytes. */
  memoryItemBytes: number;
}
export interface CopyRequest {
  id: string;
  url: string;
}
export type CopyReply =
  | { id: string; ok: true; contentType: string; data?: Uint8Array; fileSize?: number }
  | { id: string; ok: false; error: string };

export class ResultCopier {
  private thread?: Worker;
  private readonly waiting = new Map<string, { resolve: (s: ResultSource) => void; reject: (e: Error) => void }>();

  constructor(private readonly cfg: CopierConfig) {}

  /** Copies `url` for result `id`: resolves with where the bytes are, rejects with why not. */
  copy(id: string, url: string): Promise<ResultSource> {
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const t = this.ensureThread();
      t.ref();
      t.postMessage({ id, url } satisfies CopyRequest);
    });
  }

  private ensureThread(): Worker {
    if (this.thread) return this.thread;
    const t = startModuleThread(import.meta.url, "./result-copier-thread", this.cfg);
    this.thread = t;
    t.on("message", (m: CopyReply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (!m.ok) w.reject(new Error(m.error));
      else if (m.data) w.resolve({ data: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length), contentType: m.contentType });
      else w.resolve({ fileSize: m.fileSize ?? 0, contentType: m.contentType });
      if (this.waiting.size === 0) t.unref();
    });
    const fail = (err: Error) => {
      if (this.thread !== t) return;
      this.thread = undefined;
      const pending = [...this.waiting.values()];
      this.waiting.clear();
      for (const w of pending) w.reject(err);
    };
    t.on("error", fail);
    t.on("exit", (code) => fail(new Error(`result copier thread exited (${code})`)));
    return t;
  }

  async close(): Promise<void> {
    const t = this.thread;
    this.thread = undefined;
    await t?.terminate();
  }
}
