// RTMP ingest reuses its output memory once the HLS window let go of a segment: a real publisher
// pushes for longer than a small window keeps, while segments, LL-HLS parts and thumbnails are read
// the whole time; every byte served must still be that segment's (a reused slab reads as 0xEE filler,
// which breaks the TS sync bytes), and /metrics must show that slabs were in fact reused.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ffprobe } from "../../core/ffmpeg.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";

let w: WharfProcess;

before(async () => {
  // 1 s segments, 2 listed: the window keeps 6 segments (6 s), so an 18 s push reuses slabs twice over.
  w = await startWharf({ env: { WHARF_HLS_WINDOW: "2", WHARF_SEGMENT_DURATION: "1" } });
});
after(async () => {
  await w?.stop();
});

function checkTs(bytes: Buffer, what: string): void {
  assert.ok(bytes.length > 0 && bytes.length % 188 === 0, `${what}: ${bytes.length} bytes is not whole TS packets`);
  for (let off = 0; off < bytes.length; off += 188) assert.equal(bytes[off], 0x47, `${what}: no sync byte at ${off}`);
}

async function slabTakes(): Promise<{ fresh: number; reused: number }> {
  const text = await (await fetch(`${w.http}/metrics`)).text();
  const value = (source: string) => Number(new RegExp(`^wharf_ingest_slab_takes_total\\{source="${source}"\\} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
  return { fresh: value("new"), reused: value("reused") };
}

test("segments, parts and thumbnails stay intact while the ingest's slabs are reused", { timeout: 120_000 }, async () => {
  const before = await slabTakes();
  const res = await w.api("POST", "/v1/streams", { name: "recycling", pipeline: "passthrough" });
  assert.equal(res.status, 201);
  const media = (res.body.hlsUrl as string).replace("index.m3u8", "source/index.m3u8");
  const base = media.slice(0, media.lastIndexOf("/") + 1);
  const pub = pushTestPattern(res.body.rtmpUrl, { seconds: 18, size: "640x360" });
  const seen = new Set<string>();
  const late: Buffer[] = [];
  let thumbnails = 0;
  try {
    await waitFor("first playlist", async () => (await fetch(media)).status === 200, 20_000, 100);
    const t0 = Date.now();
    while (Date.now() - t0 < 17_000) {
      const playlist = await (await fetch(media)).text();
      const uris = [...playlist.matchAll(/URI="([^"]+\.ts)"/g)].map((m) => m[1]!).concat(playlist.split("\n").filter((l) => l.endsWith(".ts") && !l.startsWith("#")));
      for (const uri of uris) {
        if (seen.has(uri)) continue;
        const r = await fetch(base + uri);
        if (r.status === 404) continue; // left the window meanwhile
        assert.equal(r.status, 200, uri);
        const bytes = Buffer.from(await r.arrayBuffer());
        checkTs(bytes, uri);
        seen.add(uri);
        if (!uri.includes(".", uri.indexOf(".") + 1) && Date.now() - t0 > 12_000) late.push(bytes);
      }
      const thumb = await fetch(`${w.http}/v1/streams/${res.body.id}/thumbnail.jpg`);
      if (thumb.status === 200) {
        assert.equal(thumb.headers.get("content-type"), "image/jpeg");
        assert.ok((await thumb.arrayBuffer()).byteLength > 1000);
        thumbnails++;
      } else await thumb.arrayBuffer();
      await sleep(150);
    }
  } finally {
    await pub.stop();
  }
  const segments = [...seen].filter((u) => /^\d+\.ts$/.test(u)).length;
  assert.ok(segments >= 12, `whole segments read: ${segments}`);
  assert.ok(seen.size - segments >= 30, `parts read: ${seen.size - segments}`);
  assert.ok(thumbnails >= 5, `thumbnails: ${thumbnails}`);
  assert.ok(late.length >= 2, "segments written after slabs were reused");
  for (const bytes of late.slice(-2)) {
    const probe = await ffprobe(bytes);
    assert.ok(probe.streams.some((s) => s.codec_type === "video" && s.codec_name === "h264"));
  }
  const after = await slabTakes();
  assert.ok(after.reused - before.reused > 5, `slabs reused: ${after.reused - before.reused} (new: ${after.fresh - before.fresh})`);
});
