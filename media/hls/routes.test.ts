// The HLS routes over a real HTTP server: a part response holds its segment's pooled memory only
// while it is written, also when its client left while the request waited for the part.
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import { LiveSegment } from "../../core/live-segment.ts";
import { ingestSlabs } from "../../core/slab-pool.ts";
import { StreamHub } from "../hub/hub.ts";
import type { StreamRecord } from "../hub/types.ts";
import { createPassthroughProcessor } from "../processors/passthrough.ts";
import { ByteArena } from "../remux/byte-arena.ts";
import { registerHlsRoutes } from "./routes.ts";
import { HlsService } from "./service.ts";

const record: StreamRecord = { id: "str_routes", name: "routes", pipeline: "passthrough", streamKey: "sk_routes", createdAt: 0, options: {} };
const PART = 0.334;
const tick = () => new Promise((r) => setTimeout(r, 20));

test("a part request whose client left while it waited for the part lets go of the segment: it is released once it leaves the window", async () => {
  const hub = new StreamHub({ get: (id) => (id === record.id ? record : undefined), findByStreamKey: async (k) => (k === record.streamKey ? record : undefined) }, { publisherTimeoutMs: 60_000, maxLive: 10 });
  hub.registerProcessor("passthrough", createPassthroughProcessor);
  const hls = new HlsService(hub, { targetDuration: 2, window: 1 }); // keeps 4 segments
  const app = Fastify();
  registerHlsRoutes(app, hls);
  await app.listen({ port: 0, host: "127.0.0.1" });
  const port = (app.server.address() as AddressInfo).port;
  const admitted = await hub.admit({ streamKey: record.streamKey, protocol: "rtmp", remoteAddress: "127.0.0.1", disconnect: () => {} });
  assert.ok(admitted.ok);
  admitted.ingest.setSource({ videoCodec: "h264", width: 640, height: 360, hlsCodecs: "avc1.64001e" });
  const arena = new ByteArena(ingestSlabs);
  const start = (seq: number) => {
    const seg = new LiveSegment(seq, seq * 2);
    seg.partTarget = PART;
    admitted.ingest.pushSegment(seg);
    return seg;
  };
  const part = (seg: LiveSegment) => {
    const index = seg.parts.length;
    seg.push(arena.take(60_000).fill(0x47)); // most of a slab: each part starts another
    seg.addPart({ index, offset: index * 60_000, size: 60_000, duration: PART, independent: index === 0 });
  };
  try {
    const watched = start(0);
    part(watched);
    await tick();
    // A player asks for the hinted part 0.1 and goes away before it exists.
    const req = request({ port, path: `/v1/streams/${record.id}/hls/source/0.1.ts` });
    req.on("error", () => {});
    req.end();
    await tick();
    req.destroy();
    await tick();
    part(watched); // the part arrives: the route gets its bytes for a client that is gone
    await tick();
    watched.end(2 * PART);
    for (let seq = 1; seq <= 5; seq++) {
      const seg = start(seq);
      part(seg);
      seg.end(PART);
      await tick();
    }
    assert.equal(watched.released, true, "out of the window and no response holds it");
  } finally {
    arena.close();
    admitted.ingest.end("publisher-left");
    await app.close();
  }
});
