// The thumbnail service holds the latest complete segment of each rendition, and only that one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LiveSegment } from "../../core/live-segment.ts";
import { ingestSlabs } from "../../core/slab-pool.ts";
import { StreamHub } from "../hub/hub.ts";
import type { StreamRecord } from "../hub/types.ts";
import { createPassthroughProcessor } from "../processors/passthrough.ts";
import { ByteArena } from "../remux/byte-arena.ts";
import { ThumbnailService } from "./service.ts";

const record: StreamRecord = { id: "str_thumb", name: "thumb", pipeline: "passthrough", streamKey: "sk_thumb", createdAt: 0, options: {} };
const tick = () => new Promise((r) => setImmediate(r));

test("a segment published already complete (passthrough's first ones, once the source is known) is held as the latest, and let go when the next replaces it", async () => {
  const hub = new StreamHub({ get: (id) => (id === record.id ? record : undefined), findByStreamKey: async (k) => (k === record.streamKey ? record : undefined) }, { publisherTimeoutMs: 60_000, maxLive: 10 });
  hub.registerProcessor("passthrough", createPassthroughProcessor);
  new ThumbnailService(hub);
  const admitted = await hub.admit({ streamKey: record.streamKey, protocol: "rtmp", remoteAddress: "127.0.0.1", disconnect: () => {} });
  assert.ok(admitted.ok);
  const arena = new ByteArena(ingestSlabs);
  const segment = (seq: number) => {
    const seg = new LiveSegment(seq, seq * 2);
    admitted.ingest.pushSegment(seg);
    seg.push(arena.take(60_000).fill(seq + 1)); // most of a slab: the next one starts another
    seg.end(2);
    return seg;
  };
  const first = segment(0); // complete before the source is known: published complete
  admitted.ingest.setSource({ videoCodec: "h264", width: 640, height: 360, hlsCodecs: "avc1.64001e" });
  await tick();
  assert.equal(first.released, false, "held as the latest");
  const second = segment(1);
  await tick();
  assert.equal(first.released, true, "let go once the next one is the latest");
  assert.equal(second.released, false);
  arena.close();
  admitted.ingest.end("publisher-left");
});
