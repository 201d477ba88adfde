// Thumbnails: GET /v1/streams/{id}/thumbnail.jpg is the latest keyframe, cut once per segment however many ask.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ffprobe } from "../../core/ffmpeg.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";

let w: WharfProcess;

async function extractions(): Promise<number> {
  const text = await fetch(`${w.http}/metrics`).then((r) => r.text());
  return [...text.matchAll(/^wharf_thumbnail_extractions_total\{result="\w+"\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

describe("thumbnails", { timeout: 120000 }, () => {
  before(async () => {
    w = await startWharf();
  });
  after(async () => {
    await w?.stop();
  });

  test("the latest keyframe as JPEG, cached per segment: 50 concurrent requests run at most one ffmpeg per segment", async () => {
    const s = (await w.api("POST", "/v1/streams", { name: "thumbs", pipeline: "passthrough" })).body as { id: string; rtmpUrl: string };
    const url = `${w.http}/v1/streams/${s.id}/thumbnail.jpg`;
    assert.equal((await fetch(url)).status, 404);

    const pub = pushTestPattern(s.rtmpUrl, { seconds: 14, size: "640x360" });
    try {
      const first = await waitFor("a thumbnail", async () => {
        const r = await fetch(url);
        return r.status === 200 ? r : undefined;
      }, 15000, 200);
      assert.equal(first.headers.get("content-type"), "image/jpeg");
      // About one segment: the first segment of a session may be shorter than the 2 s target.
      assert.match(first.headers.get("cache-control") ?? "", /public, max-age=[12]\b/);
      const jpeg = Buffer.from(await first.arrayBuffer());
      const probe = await ffprobe(jpeg);
      assert.equal(probe.streams[0]?.codec_name, "mjpeg");
      assert.equal(probe.streams[0]?.width, 640);
      assert.equal(probe.streams[0]?.height, 360);
      const etag = first.headers.get("etag")!;
      const notModified = await fetch(url, { headers: { "if-none-match": etag } });
      assert.ok(notModified.status === 304 || notModified.headers.get("etag") !== etag, "same segment: 304");

      for (let wave = 0; wave < 3; wave++) {
        const before = await extractions();
        const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(url).then(async (r) => ({ status: r.status, etag: r.headers.get("etag"), size: (await r.arrayBuffer()).byteLength }))));
        const after = await extractions();
        assert.ok(answers.every((a) => a.status === 200 && a.size > 1000), JSON.stringify(answers.filter((a) => a.status !== 200)));
        const segments = new Set(answers.map((a) => a.etag)).size;
        assert.ok(after - before <= segments, `wave ${wave}: ${after - before} ffmpeg runs for ${segments} segments`);
        console.log(`# wave ${wave}: 50 requests, ${segments} segment(s), ${after - before} ffmpeg run(s)`);
        await sleep(2500); // the next wave sees a newer segment
      }
      assert.equal((await fetch(`${url}?rendition=nope`)).status, 404);
    } finally {
      await pub.stop();
    }
  });
});
