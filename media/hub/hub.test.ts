// The hub with a source it cannot understand: the probe is retried on later segments, the
// stream ends with a reason, and the passthrough processor never holds more than a few segments;
// a silent publisher is ended by the watchdog.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { LiveSegment } from "../../core/live-segment.ts";
import { createPassthroughProcessor, MAX_SEGMENTS_BEFORE_SOURCE } from "../processors/passthrough.ts";
import { StreamHub } from "./hub.ts";
import type { StreamRecord } from "./types.ts";

const record: StreamRecord = { id: "str_1", name: "garbage", pipeline: "passthrough", streamKey: "sk_1", ownerKeyId: "key_1", createdAt: 0, options: {} };

test("a source no probe understands: retried, then the stream ends as failed with the reason; no segment is published or piled up", async () => {
  const hub = new StreamHub({ get: (id) => (id === record.id ? record : undefined), findByStreamKey: async (k) => (k === record.streamKey ? record : undefined) }, { publisherTimeoutMs: 60_000, maxLive: 10 });
  hub.registerProcessor("passthrough", createPassthroughProcessor);
  let disconnected = "";
  const admitted = await hub.admit({ streamKey: "sk_1", protocol: "rtmp", remoteAddress: "127.0.0.1", disconnect: (r) => (disconnected = r) });
  assert.ok(admitted.ok);
  const stream = admitted.ingest.stream;
  let published = 0;
  stream.outputs.on("segment", () => published++);
  const ended = new Promise<string>((resolve) => stream.once("unpublished", resolve));

  // 1 MB segments of random bytes, one every 100 ms, until the hub gives up (or 150 were sent: a loaded machine probes slowly).
  let sent = 0;
  let reason: string | undefined;
  void ended.then((r) => (reason = r));
  while (reason === undefined && sent < 150) {
    const seg = new LiveSegment(sent, sent * 2);
    admitted.ingest.pushSegment(seg);
    seg.push(randomBytes(1 << 20));
    seg.end(2);
    sent++;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await Promise.race([ended, new Promise((r) => setTimeout(() => r("still live"), 25_000))]), "failed");
  assert.equal(disconnected, "failed", "the publisher was disconnected");
  assert.ok(sent < 150, `the stream ended after ${sent} segments`);
  assert.match(stream.view().lastEnded ? JSON.stringify(stream.view().lastEnded) : "", /could not be understood after 3 segments/);
  assert.equal(published, 0);
  assert.ok(MAX_SEGMENTS_BEFORE_SOURCE <= 3);
  hub.removeAllListeners();
});

test("a publisher that sends nothing is ended after publisherTimeoutMs, also when it comes after the hub was idle", async () => {
  const hub = new StreamHub({ get: (id) => (id === record.id ? record : undefined), findByStreamKey: async (k) => (k === record.streamKey ? record : undefined) }, { publisherTimeoutMs: 200, maxLive: 10 });
  hub.registerProcessor("passthrough", createPassthroughProcessor);
  try {
    // The publisher watchdog runs only while a stream is live: the second session comes after it stopped.
    for (const round of [1, 2]) {
      let disconnected = "";
      const t0 = Date.now();
      const admitted = await hub.admit({ streamKey: "sk_1", protocol: "rtmp", remoteAddress: "127.0.0.1", disconnect: (r) => (disconnected = r) });
      assert.ok(admitted.ok);
      const ended = await Promise.race([new Promise<string>((resolve) => admitted.ingest.stream.once("unpublished", resolve)), new Promise((r) => setTimeout(() => r("still live"), 5000))]);
      assert.equal(ended, "publisher-timeout", `round ${round}`);
      assert.equal(disconnected, "publisher-timeout");
      assert.ok(Date.now() - t0 >= 200, `round ${round}: ended after ${Date.now() - t0} ms`);
      await new Promise((r) => setTimeout(r, 300)); // the watchdog sees no live stream and stops
    }
  } finally {
    await hub.stop();
    hub.removeAllListeners();
  }
});
