// The result store over real HTTP (fastify on 127.0.0.1): stored results, results whose
// copy is still running (a GET waits for it), failed copies (502 with the reason),
// abandoned reservations (404), and large results streamed to disk; and its index:
// expiry order, ring growth with copies pending, the byte and item bounds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import Fastify from "fastify";
import { ResultStore, ResultTooLargeError, type ResultStoreOptions } from "./results.ts";

async function withStore(fn: (store: ResultStore, base: string) => Promise<void>, opts: Partial<ResultStoreOptions> = {}): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "wharf-results-"));
  const store = new ResultStore({ dir: path.join(dir, "r"), ttlSec: 60, memoryItemBytes: 1024, maxItemBytes: 64 * 1024, ...opts });
  const app = Fastify();
  store.register(app);
  const base = await app.listen({ host: "127.0.0.1", port: 0 });
  try {
    await fn(store, base);
  } finally {
    store.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a GET of a reserved result waits for its copy, then serves it", () =>
  withStore(async (store, base) => {
    const r = store.reserve();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const filled = r.fill(async () => {
      await gate;
      return { data: Buffer.from("png bytes"), contentType: "image/png" };
    });
    let answered = false;
    const get = fetch(`${base}/v1/results/${r.id}`).then((res) => ((answered = true), res));
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(answered, false, "the GET waits while the copy runs");
    release();
    assert.equal(await filled, true);
    const res = await get;
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/png");
    assert.equal(await res.text(), "png bytes");
  }));

test("a failed copy answers 502 with its reason; an abandoned reservation 404", () =>
  withStore(async (store, base) => {
    const failed = store.reserve();
    assert.equal(await failed.fill(async () => { throw new Error("/ai/results/x answered 500"); }), false);
    const res = await fetch(`${base}/v1/results/${failed.id}`);
    assert.equal(res.status, 502);
    assert.match(((await res.json()) as { message: string }).message, /could not be copied from the orchestrator: \/ai\/results\/x answered 500/);

    const abandoned = store.reserve();
    abandoned.abandon();
    assert.equal((await fetch(`${base}/v1/results/${abandoned.id}`)).status, 404);
  }));

test("a large copied result is streamed to disk and served; one over the item limit fails", () =>
  withStore(async (store, base) => {
    const big = Buffer.alloc(20 * 1024, 7);
    const r = store.reserve();
    assert.equal(await r.fill(async () => ({ stream: Readable.from([big.subarray(0, 5000), big.subarray(5000)]), contentType: "video/mp4" })), true);
    const res = await fetch(`${base}/v1/results/${r.id}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "video/mp4");
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), big);

    const tooBig = store.reserve();
    assert.equal(await tooBig.fill(async () => ({ stream: Readable.from([Buffer.alloc(70 * 1024)]), contentType: "video/mp4" })), false);
    const res2 = await fetch(`${base}/v1/results/${tooBig.id}`);
    assert.equal(res2.status, 502);
    assert.match(((await res2.json()) as { message: string }).message, /exceeds 65536 bytes/);
  }));

test("many results: expiry removes the oldest first, copies finishing out of order land in their own slots", () =>
  withStore(async (store) => {
    // 5000 reservations (the ring grows past its initial 1024 slots with copies pending),
    // filled in reverse order.
    const rs = Array.from({ length: 5000 }, () => store.reserve());
    for (const [i, r] of [...rs.entries()].reverse()) assert.equal(await r.fill(async () => ({ data: Buffer.from(`result ${i}`), contentType: i % 2 ? "image/png" : "video/mp4" })), true);
    assert.equal(store.count, 5000);
    for (const i of [0, 1, 1023, 1024, 4999]) {
      const got = store.get(rs[i]!.id)!;
      assert.equal(got.data!.toString(), `result ${i}`);
      assert.equal(got.contentType, i % 2 ? "image/png" : "video/mp4");
    }
    assert.equal(store.get("x".repeat(43)), undefined);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const late = await store.putBuffer(Buffer.from("late"), "image/png");
    store.sweep();
    assert.equal(store.count, 1, "the 5000 expired results are gone, the new one stays");
    assert.equal(store.totalBytes, 4);
    assert.equal(store.get(rs[0]!.id), undefined);
    assert.equal(store.get(late.id)!.data!.toString(), "late");
  }, { ttlSec: 1 }));

test("the byte bound evicts the oldest results, on disk and in memory", () =>
  withStore(async (store) => {
    const onDisk = await store.putBuffer(Buffer.alloc(400, 1), "video/mp4");
    const pending = store.reserve();
    const small = await Promise.all(Array.from({ length: 5 }, () => store.putBuffer(Buffer.alloc(100, 2), "image/png")));
    assert.equal(store.totalBytes, 900);
    await store.putBuffer(Buffer.alloc(300, 3), "video/mp4"); // 1200 > 1000: the 400-byte file goes
    assert.equal(store.get(onDisk.id), undefined);
    assert.equal(store.totalBytes, 800);
    assert.ok(small.every((s) => store.get(s.id)), "newer results stay");
    // The copy that was pending before them still lands.
    assert.equal(await pending.fill(async () => ({ data: Buffer.from("copied"), contentType: "image/png" })), true);
    assert.equal(store.get(pending.id)!.data!.toString(), "copied");
  }, { memoryItemBytes: 100, maxBytes: 1000 }));

test("the item bound evicts the oldest results", () =>
  withStore(async (store) => {
    const ids = [];
    for (let i = 0; i < 250; i++) ids.push((await store.putBuffer(Buffer.from(`r${i}`), "image/png")).id);
    assert.equal(store.count, 100);
    assert.equal(store.get(ids[149]!), undefined);
    assert.equal(store.get(ids[150]!)!.data!.toString(), "r150");
    assert.equal(store.get(ids[249]!)!.data!.toString(), "r249");
  }, { maxItems: 100 }));

test("a result over the item limit is refused and leaves nothing behind", () =>
  withStore(async (store) => {
    await assert.rejects(store.putBuffer(Buffer.alloc(65 * 1024), "image/png"), ResultTooLargeError);
    assert.equal(store.count, 0);
    assert.equal(store.totalBytes, 0);
  }));
