// The defect that replaced node-media-server: valid handshakes followed by random bytes must cost little and change nothing.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { RtmpServer, type RtmpMedia } from "./server.ts";
import { TestRtmpClient } from "./test-client.ts";
import { pushWithFfmpeg } from "./test-publisher.ts";

const KEY = "sk_garbage_test_key";
const CONNECTIONS = 20;
const GARBAGE_BYTES = 200 * 1024;
const MiB = 1024 * 1024;

let server: RtmpServer;
const media: RtmpMedia[] = [];

before(async () => {
  server = new RtmpServer({
    host: "127.0.0.1",
    port: 0,
    onPublish: async (req, publisher) => {
      if (req.name !== KEY) return "unknown stream key";
      publisher.onMedia((m) => media.push(m));
      return true;
    },
  });
  await server.start();
});

after(async () => {
  await server.stop();
});

/**
 * Samples RSS and ArrayBuffer bytes every 10 ms until stopped; returns the peaks. ArrayBuffers
 * catch allocation from a declared length even before the kernel commits the pages (against
 * node-media-server 4.4.3 this attack allocated 14 GiB of them and closed none of the sockets).
 */
function memoryPeak(): { stop(): { rss: number; arrayBuffers: number } } {
  const peak = { rss: 0, arrayBuffers: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  };
  sample();
  const t = setInterval(sample, 10);
  return {
    stop() {
      clearInterval(t);
      sample();
      return peak;
    },
  };
}

async function attack(payload: (i: number) => Buffer): Promise<{ closeMs: number[] }> {
  // Spread over 4 loopback addresses: 20 from one would (rightly) meet the per-address cap of 16.
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, (_, i) => TestRtmpClient.connect(server.port, { localAddress: `127.0.0.${1 + (i % 4)}` })),
  );
  await Promise.all(clients.map((c) => c.handshake()));
  const sentAt = Date.now();
  clients.forEach((c, i) => c.write(payload(i)));
  const closeMs = await Promise.all(clients.map((c) => c.closed.then(() => Date.now() - sentAt)));
  return { closeMs };
}

test(`${CONNECTIONS} connections: handshake + ${GARBAGE_BYTES / 1024} KB of random bytes each are closed promptly, RSS barely moves, a real publisher still works`, { timeout: 60000 }, async () => {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  const baseline = process.memoryUsage();
  const sampler = memoryPeak();
  delay.enable();

  // Round 1: the reported attack, random bytes after a valid handshake.
  const random = await attack(() => randomBytes(GARBAGE_BYTES));
  // Round 2: the precise exploit: chunk headers declaring 16 MiB messages of every type.
  const declared = await attack((i) => {
    const h = Buffer.alloc(12 + 1024);
    h[0] = 3 + (i % 5);
    h.writeUIntBE(0xffffff, 4, 3);
    h[7] = [8, 9, 18, 20, 22][i % 5]!;
    return h;
  });

  delay.disable();
  const peak = sampler.stop();
  const growthMiB = (peak.rss - baseline.rss) / MiB;
  const buffersMiB = (peak.arrayBuffers - baseline.arrayBuffers) / MiB;
  const maxDelayMs = delay.max / 1e6;
  const slowestClose = Math.max(...random.closeMs, ...declared.closeMs);
  console.log(
    `garbage: RSS baseline ${(baseline.rss / MiB).toFixed(1)} MiB, peak ${(peak.rss / MiB).toFixed(1)} MiB, growth ${growthMiB.toFixed(1)} MiB; ` +
      `ArrayBuffers growth ${buffersMiB.toFixed(1)} MiB (includes the test's own ${((CONNECTIONS * GARBAGE_BYTES) / MiB).toFixed(1)} MiB of garbage); ` +
      `slowest close ${slowestClose} ms; max event-loop delay ${maxDelayMs.toFixed(1)} ms`,
  );
  assert.ok(growthMiB < 64, `RSS grew ${growthMiB.toFixed(1)} MiB`);
  assert.ok(buffersMiB < 64, `ArrayBuffers grew ${buffersMiB.toFixed(1)} MiB`);
  assert.ok(slowestClose < 1000, `a garbage connection stayed open ${slowestClose} ms`);
  assert.ok(maxDelayMs < 500, `event loop stalled ${maxDelayMs.toFixed(1)} ms`);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(server.connections, 0, "every garbage connection is gone");

  // The server still takes a real publisher.
  const pub = pushWithFfmpeg(`rtmp://127.0.0.1:${server.port}/live/${KEY}`, 2);
  const { code } = await pub.exited;
  assert.equal(code, 0, pub.stderrTail());
  assert.ok(media.filter((m) => m.kind === "video").length >= 50, `${media.length} media messages from the real publisher`);
});
