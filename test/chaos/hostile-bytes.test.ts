// Chaos: random and malformed bytes at Wharf's RTMP and HTTP ports. Wharf's memory stays bounded,
// /healthz keeps answering quickly during the attack, and the process is alive after it.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep } from "../support/wait.ts";
import { healthzProbe, rssBytes } from "./probes.ts";

const CONNECTIONS_PER_ATTACK = 20;
const GARBAGE_BYTES_PER_CONNECTION = 200 * 1024;
const RSS_GROWTH_LIMIT_BYTES = 64 * 1024 * 1024;
const HEALTHZ_P99_LIMIT_MS = 100;
/**
 * On a shared 2-core machine (npm test runs two test files at once) an idle Wharf's /healthz p99
 * was measured at 33-92 ms, max 300 ms, with load average 12: the bound is 100 ms or, when the
 * idle p99 measured just before is already near it, 1.5x that idle p99 (the attack must not
 * make it worse than the machine does).
 */
const IDLE_P99_FACTOR = 1.5;
const IDLE_PROBE_MS = 4000;
const RTMP_HANDSHAKE_BYTES = 1536;
const MIN_ROUNDS = 3;
/** Rounds repeat until the attack has lasted this long, so the p99 rests on a few hundred probes. */
const MIN_ATTACK_MS = 6000;
/** A freeze like the one issue 15 found (10 s) shows as one slow probe: bounded on its own. */
const HEALTHZ_MAX_LIMIT_MS = 2000;

let w: WharfProcess | undefined;
const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  await w?.stop();
});

/** A TCP connection that never throws (Wharf closing it on us is the expected outcome). */
function open(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
    s.once("connect", () => resolve(s));
    s.once("error", () => resolve(s));
  });
}

/** Writes `bytes` in 16 KB pieces, as long as the peer keeps the connection open. */
async function spray(s: Socket, bytes: number): Promise<void> {
  for (let sent = 0; sent < bytes && !s.destroyed; sent += 16384) {
    const ok = s.write(randomBytes(Math.min(16384, bytes - sent)));
    if (!ok) await Promise.race([new Promise((r) => s.once("drain", r)), new Promise((r) => s.once("close", r)), sleep(2000)]);
  }
}

/** C0+C1, waits for S0+S1+S2, sends C2: a valid RTMP handshake (simple, no digest). */
async function rtmpHandshake(s: Socket): Promise<boolean> {
  let got = 0;
  const done = new Promise<boolean>((resolve) => {
    s.on("data", (d) => {
      got += d.length;
      if (got >= 1 + 2 * RTMP_HANDSHAKE_BYTES) resolve(true);
    });
    s.once("close", () => resolve(false));
    setTimeout(() => resolve(false), 5000);
  });
  s.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(RTMP_HANDSHAKE_BYTES)]));
  const ok = await done;
  if (ok) s.write(Buffer.alloc(RTMP_HANDSHAKE_BYTES));
  return ok;
}

const attacks: Record<string, (w: WharfProcess) => Promise<void>> = {
  async "rtmp random bytes"(w) {
    await spray(await open(w.rtmpPort), GARBAGE_BYTES_PER_CONNECTION);
  },
  async "rtmp handshake then garbage"(w) {
    const s = await open(w.rtmpPort);
    if (await rtmpHandshake(s)) await spray(s, GARBAGE_BYTES_PER_CONNECTION);
  },
  async "http random bytes"(w) {
    await spray(await open(w.httpPort), GARBAGE_BYTES_PER_CONNECTION);
  },
  async "http truncated request"(w) {
    const s = await open(w.httpPort);
    s.write(`POST /v1/streams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${w.adminKey}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"name":"trunc`);
    await sleep(500);
    s.end();
  },
  async "http huge headers"(w) {
    const s = await open(w.httpPort);
    s.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (let i = 0; i < 64 && !s.destroyed; i++) s.write(`X-Junk-${i}: ${"a".repeat(8000)}\r\n`);
    s.write("\r\n");
    await sleep(200);
    s.end();
  },
};

test("hostile bytes at the RTMP and HTTP ports: RSS +64 MB at most, /healthz p99 < 100 ms (or 1.5x idle on a busy machine), alive after", { timeout: 90000 }, async () => {
  w = await startWharf();
  const pid = w.proc.pid!;
  await sleep(1000);
  const idleProbe = healthzProbe(w.http, 10);
  await sleep(IDLE_PROBE_MS);
  const idle = await idleProbe.stop();
  const p99LimitMs = Math.max(HEALTHZ_P99_LIMIT_MS, IDLE_P99_FACTOR * idle.p99);
  const rssBefore = rssBytes(pid);
  let rssPeak = rssBefore;
  const rssTimer = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssBytes(pid));
  }, 100);
  const probe = healthzProbe(w.http, 10);
  let rounds = 0;
  try {
    // Every attack at once (100 connections), round after round: later rounds meet whatever the first left behind.
    const attackStart = Date.now();
    for (; rounds < MIN_ROUNDS || Date.now() - attackStart < MIN_ATTACK_MS; rounds++) {
      await Promise.all(
        Object.values(attacks).flatMap((attack) => Array.from({ length: CONNECTIONS_PER_ATTACK }, () => attack(w!))),
      );
    }
    await sleep(1500);
  } finally {
    clearInterval(rssTimer);
  }
  const latency = await probe.stop();
  for (const s of sockets) s.destroy();
  rssPeak = Math.max(rssPeak, rssBytes(pid));
  const growthMb = (rssPeak - rssBefore) / 2 ** 20;
  console.log(`hostile-bytes: ${rounds} rounds of ${Object.keys(attacks).length} attacks x ${CONNECTIONS_PER_ATTACK} connections at once; RSS ${(rssBefore / 2 ** 20).toFixed(0)} MB -> peak ${(rssPeak / 2 ** 20).toFixed(0)} MB (+${growthMb.toFixed(1)} MB); /healthz ${latency.count} probes, p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms, max ${latency.max.toFixed(1)} ms, ${latency.failures} failed (idle before: p99 ${idle.p99.toFixed(1)} ms of ${idle.count} probes; bound ${p99LimitMs.toFixed(0)} ms)`);
  assert.equal(w.proc.exitCode, null, "Wharf is alive");
  assert.equal(w.proc.signalCode, null, "Wharf is alive");
  assert.equal((await fetch(`${w.http}/healthz`)).status, 200);
  assert.equal(latency.failures, 0, "every /healthz probe answered 200");
  assert.ok(rssPeak - rssBefore <= RSS_GROWTH_LIMIT_BYTES, `RSS grew ${growthMb.toFixed(1)} MB`);
  assert.ok(latency.max < HEALTHZ_MAX_LIMIT_MS, `/healthz answered once after ${latency.max.toFixed(0)} ms`);
  assert.ok(latency.p99 < p99LimitMs, `/healthz p99 ${latency.p99.toFixed(1)} ms (idle p99 ${idle.p99.toFixed(1)} ms)`);
});
