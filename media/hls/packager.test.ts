// The HLS packager on a hub stream fed like RTMP ingest feeds it: source facts told by the adapter,
// segments cut into parts while they are written.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LiveSegment } from "../../core/live-segment.ts";
import { StreamHub, type IngestHandle } from "../hub/hub.ts";
import { createPassthroughProcessor } from "../processors/passthrough.ts";
import type { StreamRecord } from "../hub/types.ts";
import { ingestSlabs } from "../../core/slab-pool.ts";
import { ByteArena } from "../remux/byte-arena.ts";
import { HlsPackager } from "./packager.ts";
import type { HeldBytes } from "./segment-bytes.ts";

const record: StreamRecord = { id: "str_ll", name: "ll", pipeline: "passthrough", streamKey: "sk_ll", createdAt: 0, options: {} };
const PART = 0.334;
const tick = () => new Promise((r) => setImmediate(r));
/** A response's bytes, joined, and its hold let go. */
const take = (held: HeldBytes | undefined): Buffer | undefined => {
  if (!held) return undefined;
  const bytes = Buffer.concat(held.chunks);
  held.release();
  return bytes;
};

async function live(window = 6): Promise<{ ingest: IngestHandle; hls: HlsPackager }> {
  const hub = new StreamHub({ get: (id) => (id === record.id ? record : undefined), findByStreamKey: async (k) => (k === record.streamKey ? record : undefined) }, { publisherTimeoutMs: 60_000, maxLive: 10 });
  hub.registerProcessor("passthrough", createPassthroughProcessor);
  const admitted = await hub.admit({ streamKey: record.streamKey, protocol: "rtmp", remoteAddress: "127.0.0.1", disconnect: () => {} });
  assert.ok(admitted.ok);
  const hls = new HlsPackager(admitted.ingest.stream, { targetDuration: 2, window });
  return { ingest: admitted.ingest, hls };
}

/** A segment written part by part, like TsSplitter with partTarget: 1000 bytes of value `seq` per part. */
class Writer {
  readonly seg: LiveSegment;
  constructor(
    seq: number,
    /** Where part bytes come from (RTMP ingest: pooled slabs). */
    private readonly arena?: ByteArena,
  ) {
    this.seg = new LiveSegment(seq, seq * 2);
    this.seg.partTarget = PART;
  }
  part(): void {
    const index = this.seg.parts.length;
    this.seg.push(this.arena ? this.arena.take(1000).fill(this.seg.seq) : Buffer.alloc(1000, this.seg.seq));
    this.seg.addPart({ index, offset: index * 1000, size: 1000, duration: PART, independent: index === 0 });
  }
  end(): void {
    this.seg.end(this.seg.parts.length * PART);
  }
}

async function segment(ingest: IngestHandle, seq: number, parts: number, complete = true, arena?: ByteArena): Promise<Writer> {
  const w = new Writer(seq, arena);
  ingest.pushSegment(w.seg);
  for (let i = 0; i < parts; i++) w.part();
  if (complete) w.end();
  await tick();
  return w;
}

test("the source facts told by the adapter skip ffprobe; LL-HLS playlist: parts near the edge and of the segment being written, preload hint, server control", async () => {
  const { ingest, hls } = await live();
  // Garbage bytes: a probe would fail and end the stream; the facts come from the adapter instead.
  ingest.setSource({ videoCodec: "h264", width: 640, height: 360, fps: 30, audioCodec: "aac", hlsCodecs: "avc1.64001e,mp4a.40.2" });
  await segment(ingest, 0, 6);
  const open = await segment(ingest, 1, 2, false);
  const text = hls.media("source")!;
  assert.match(text, /#EXT-X-VERSION:6\n/);
  assert.match(text, /#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1\.002\n/);
  assert.match(text, /#EXT-X-PART-INF:PART-TARGET=0\.334\n/);
  assert.match(text, /#EXT-X-PART:DURATION=0\.33400,URI="0\.0\.ts",INDEPENDENT=YES\n(#EXT-X-PART:DURATION=0\.33400,URI="0\.[1-5]\.ts"\n){5}#EXTINF:2\.004,\n0\.ts\n/);
  assert.match(text, /#EXT-X-PROGRAM-DATE-TIME:[^\n]+\n#EXT-X-PART:DURATION=0\.33400,URI="1\.0\.ts",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0\.33400,URI="1\.1\.ts"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="1\.2\.ts"\n$/);
  assert.deepEqual(take(hls.part("source", 1, 1)), Buffer.alloc(1000, 1), "a part of the segment being written");
  assert.deepEqual(take(hls.part("source", 0, 5)), Buffer.alloc(1000, 0), "a part of a complete segment");
  assert.equal(hls.part("source", 1, 2), undefined);
  assert.match(hls.multivariant()!, /RESOLUTION=640x360,CODECS="avc1\.64001e,mp4a\.40\.2"/);
  assert.equal(ingest.stream.live, true, "no probe failure ended the stream");
  open.end();
});

test("blocking reload holds the playlist until the part exists; too far ahead is a 400, a part that never comes a 503; the hinted part is held too", async () => {
  const { ingest, hls } = await live();
  ingest.setSource({ videoCodec: "h264", width: 640, height: 360, hlsCodecs: "avc1.64001e" });
  await segment(ingest, 0, 6);
  const open = await segment(ingest, 1, 2, false);

  let answered = false;
  const blocked = hls.awaitMedia("source", { msn: 1, part: 2 }, 4000, 6000).then((a) => ((answered = true), a));
  const hinted = hls.awaitPart("source", 1, 2, 6000);
  await tick();
  assert.equal(answered, false, "held while part 1.2 does not exist");
  open.part();
  const answer = await blocked;
  assert.equal(answer.status, 200);
  if (answer.status === 200) assert.match(answer.text, /URI="1\.2\.ts"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="1\.3\.ts"/);
  assert.deepEqual(take(await hinted), Buffer.alloc(1000, 1));

  assert.equal((await hls.awaitMedia("source", { msn: 4 }, 4000, 6000)).status, 400);
  assert.equal((await hls.awaitMedia("source", { msn: 1, part: 40 }, 4000, 6000)).status, 400);
  assert.equal((await hls.awaitMedia("source", { msn: 1, part: 3 }, 4000, 50)).status, 503);
  assert.equal(await hls.awaitPart("source", 1, 7, 6000), undefined, "only the next part is waited for");
  assert.equal((await hls.awaitMedia("source", { msn: 0 }, 4000, 6000)).status, 200, "what exists is answered at once");

  // A segment that ends before part 4: a request for 1.4 is answered by 2.0.
  const waiting = hls.awaitMedia("source", { msn: 1, part: 4 }, 4000, 6000);
  open.part();
  open.end();
  await segment(ingest, 2, 1, false);
  const later = await waiting;
  assert.equal(later.status, 200);
  if (later.status === 200) assert.match(later.text, /URI="2\.0\.ts"/);
});

test("a playlist request for a live stream without a segment waits for the first one; a stream that is not live gets its 404 at once", async () => {
  const { ingest, hls } = await live();
  ingest.setSource({ videoCodec: "h264", width: 640, height: 360, hlsCodecs: "avc1.64001e" });
  const media = hls.awaitMedia("source", undefined, 4000, 6000);
  const multivariant = hls.awaitMultivariant(4000);
  await segment(ingest, 0, 6);
  assert.equal((await media).status, 200);
  assert.match((await multivariant) ?? "", /source\/index\.m3u8/);

  const other = await live();
  other.ingest.end("publisher-left");
  const t0 = Date.now();
  assert.equal((await other.hls.awaitMedia("source", undefined, 4000, 6000)).status, 404);
  assert.equal(await other.hls.awaitMultivariant(4000), undefined);
  assert.ok(Date.now() - t0 < 100, "no wait for a stream that is not live");

  const third = await live();
  const t1 = Date.now();
  assert.equal((await third.hls.awaitMedia("source", undefined, 150, 6000)).status, 404, "still nothing after the bounded wait");
  assert.ok(Date.now() - t1 >= 140);
  third.ingest.end("publisher-left");
});

test("cluster takeover: a packager continues another node's timeline (msn and discontinuity sequence) after an EXT-X-DISCONTINUITY", async () => {
  const { ingest, hls } = await live();
  ingest.setSource({ videoCodec: "h264", width: 640, height: 360, fps: 30, audioCodec: "aac", hlsCodecs: "avc1.64001e,mp4a.40.2" });
  hls.continueFrom({ source: { nextMsn: 42, discontinuities: 3 } });
  await segment(ingest, 0, 6);
  await segment(ingest, 1, 6);
  const text = hls.media("source")!;
  assert.match(text, /#EXT-X-MEDIA-SEQUENCE:42\n/);
  assert.match(text, /#EXT-X-DISCONTINUITY-SEQUENCE:3\n/);
  assert.match(text, /#EXT-X-DISCONTINUITY\n(#[^\n]*\n)*42\.ts\n/);
  assert.equal(text.match(/#EXT-X-DISCONTINUITY\n/g)?.length, 1);
  assert.match(text, /\n43\.ts\n/);
  assert.deepEqual(hls.continuation(), { source: { nextMsn: 44, discontinuities: 4 } });
  hls.continueFrom({ source: { nextMsn: 10, discontinuities: 0 } }); // behind this timeline: ignored
  assert.deepEqual(hls.continuation(), { source: { nextMsn: 44, discontinuities: 4 } });
});

test("pooled segment memory: a response keeps its segment's bytes after the segment leaves the window; what the window lets go is reused, and served bytes are never another segment's", async () => {
  const { ingest, hls } = await live(1); // keeps 4 segments
  // 70 KB a segment: each has a slab no other segment shares
  ingest.setSource({ videoCodec: "h264", width: 640, height: 360, hlsCodecs: "avc1.64001e" });
  const arena = new ByteArena(ingestSlabs);
  const reusedBefore = ingestSlabs.stats().reused;
  const check = (held: HeldBytes | undefined, seq: number, what: string) => {
    assert.ok(held, `${what}: served`);
    const bytes = Buffer.concat(held.chunks);
    assert.equal(bytes.length, 70_000, what);
    assert.ok(bytes.every((b) => b === seq), `${what}: every byte is segment ${seq}'s`);
  };
  await segment(ingest, 1, 70, true, arena);
  await segment(ingest, 2, 70, true, arena);
  const slow = hls.segment("source", 0); // a player still downloading segment 1 (msn 0)
  const slowPart = hls.part("source", 1, 69); // and one the last part of segment 2
  for (let seq = 3; seq <= 40; seq++) {
    await segment(ingest, seq, 70, true, arena);
    const newest = hls.segment("source", seq - 1);
    check(newest, seq, `msn ${seq - 1}`);
    newest!.release();
  }
  assert.equal(hls.segment("source", 0), undefined, "msn 0 left the window");
  check(slow, 1, "the slow response's segment, long out of the window");
  assert.ok(slowPart && slowPart.size === 1000 && Buffer.concat(slowPart.chunks).every((b) => b === 2), "the slow part's segment too");
  slow!.release();
  slowPart!.release();
  assert.ok(ingestSlabs.stats().reused - reusedBefore >= 10, `slabs reused: ${ingestSlabs.stats().reused - reusedBefore}`);
  for (let seq = 37; seq <= 40; seq++) {
    const held = hls.segment("source", seq - 1);
    check(held, seq, `msn ${seq - 1} after reuse`);
    held!.release();
  }
  arena.close();
  ingest.end("publisher-left");
});
