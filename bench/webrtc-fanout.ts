// WebRTC benchmarks on loopback against a real Wharf process:
//   1. transit latency WHIP -> WHEP (direct forwarding): per RTP packet, time from the publisher
//      handing it to werift until a WHEP viewer receives it (matched by payload), p50/p95;
//   2. WHEP fan-out: N werift viewers of one ~2 Mbit/s stream, packet loss per viewer;
//   3. time to first keyframe for 20 simultaneous joins (WHIP direct and RTMP/packetizer sources).
// Viewers are werift peers in this process, on the same 2 cores as Wharf and the encoder,
// so the fan-out figure is a lower bound for Wharf alone.
//   node --import tsx bench/webrtc-fanout.ts [--viewers 10,25,50] [--seconds 10] [--joins 20]
import { pushTestPattern } from "../test/support/publisher.ts";
import { startWharf, type WharfProcess } from "../test/support/wharf.ts";
import { sleep, waitFor } from "../test/support/wait.ts";
import { playWhep, publishWhip, type WhepPlayer } from "../test/support/whip-client.ts";
import { quantile } from "../core/percentile.ts";
import { cpuSeconds } from "./support/proc.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
}
const VIEWERS = arg("viewers", "10,25,50").split(",").map(Number);
const SECONDS = Number(arg("seconds", "10"));
const JOINS = Number(arg("joins", "20"));

const pct = (values: number[], p: number) => quantile(values, p / 100);

async function createStream(w: WharfProcess, name: string) {
  const r = await w.api("POST", "/v1/streams", { name, pipeline: "passthrough" });
  return r.body as { id: string; streamKey: string; whipUrl: string; whepUrl: string; hlsUrl: string; rtmpUrl: string };
}

const key = (payload: Buffer) => payload.subarray(0, 32).toString("hex") + ":" + payload.length;

async function main(): Promise<void> {
  const w = await startWharf({ env: { WHARF_WEBRTC_MAX_VIEWERS: String(Math.max(...VIEWERS, JOINS) + 5) } });
  const results: string[] = [];
  try {
    const s = await createStream(w, "bench");
    const sentAt = new Map<string, number>();
    const pub = await publishWhip(s.whipUrl, s.streamKey, {
      codec: "H264",
      size: "1280x720",
      bitrate: "2000k",
      onSend: (kind, m) => {
        if (kind !== "video") return;
        const cc = m[0]! & 0x0f;
        let off = 12 + cc * 4;
        if (m[0]! & 0x10) off += 4 + m.readUInt16BE(off + 2) * 4;
        sentAt.set(key(m.subarray(off)), performance.now());
        if (sentAt.size > 20000) sentAt.delete(sentAt.keys().next().value!);
      },
    });
    if (pub.status !== 201) throw new Error(`publish failed: ${JSON.stringify(pub.error)}`);
    await waitFor("HLS", async () => (await fetch(s.hlsUrl)).ok, 20000, 200);
    await sleep(2000);

    // 1. Transit latency through the gateway (direct forwarding).
    const lat: number[] = [];
    const one = await playWhep(s.whepUrl, {
      onPacket: (kind, payload) => {
        if (kind !== "video") return;
        const t = sentAt.get(key(payload));
        if (t !== undefined) lat.push(performance.now() - t);
      },
    });
    await sleep(SECONDS * 1000);
    await one.stop();
    results.push(`transit latency WHIP->WHEP (direct, 1 viewer, ${lat.length} video packets): p50 ${pct(lat, 50).toFixed(1)} ms, p95 ${pct(lat, 95).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms`);
    console.log(results.at(-1));

    // 2. Fan-out.
    for (const n of VIEWERS) {
      const viewers: WhepPlayer[] = [];
      for (let i = 0; i < n; i++) viewers.push(await playWhep(s.whepUrl, { audio: true }));
      const refused = viewers.filter((v) => v.status !== 201).length;
      await waitFor("all viewers receiving", () => viewers.every((v) => v.status !== 201 || v.video.packets > 0), 20000, 200).catch(() => undefined);
      const base = viewers.map((v) => ({ p: v.video.packets, l: v.video.lost, b: v.video.bytes }));
      const cpu0 = cpuSeconds(w.proc.pid!);
      const t0 = Date.now();
      await sleep(SECONDS * 1000);
      const cpu = ((cpuSeconds(w.proc.pid!) - cpu0) / ((Date.now() - t0) / 1000)) * 100;
      const losses = viewers.map((v, i) => {
        const p = v.video.packets - base[i]!.p;
        const l = v.video.lost - base[i]!.l;
        return p + l > 0 ? (100 * l) / (p + l) : 100;
      });
      const kbps = viewers.map((v, i) => ((v.video.bytes - base[i]!.b) * 8) / SECONDS / 1000);
      results.push(
        `fan-out ${n} viewers (${refused} refused): video loss mean ${(losses.reduce((a, b) => a + b, 0) / n).toFixed(2)}%, worst ${Math.max(...losses).toFixed(2)}%, ` +
          `viewers under 1% loss ${losses.filter((l) => l < 1).length}/${n}; per-viewer video ${pct(kbps, 50).toFixed(0)} kbit/s (p50); Wharf CPU ${cpu.toFixed(0)}%`,
      );
      console.log(results.at(-1));
      await Promise.all(viewers.map((v) => v.stop()));
      await sleep(1500);
    }

    // 3. Time to first keyframe, simultaneous joins, WHIP direct source (publisher GOP 1 s; it ignores PLI).
    const joinDirect = await Promise.all(Array.from({ length: JOINS }, () => playWhep(s.whepUrl)));
    await waitFor("keyframes", () => joinDirect.every((v) => v.firstKeyframeMs !== undefined), 20000, 100).catch(() => undefined);
    const td = joinDirect.map((v) => v.firstKeyframeMs ?? Infinity);
    results.push(`time to first keyframe, ${JOINS} simultaneous joins, WHIP direct: p50 ${pct(td, 50)} ms, p95 ${pct(td, 95)} ms (ICE connected p50 ${pct(joinDirect.map((v) => v.connectedMs ?? Infinity), 50)} ms)`);
    console.log(results.at(-1));
    await Promise.all(joinDirect.map((v) => v.stop()));
    await pub.stop();

    // Same for an RTMP source (segment packetizer + GOP cache).
    const r = await createStream(w, "bench-rtmp");
    const rtmp = pushTestPattern(r.rtmpUrl, { size: "1280x720" });
    await waitFor("HLS", async () => (await fetch(r.hlsUrl)).ok, 20000, 200);
    await sleep(1000);
    // One viewer first so the packetizer runs (as for a stream somebody already watches), then the joins.
    const warm = await playWhep(r.whepUrl);
    await waitFor("warm viewer", () => warm.video.keyframes > 0, 15000, 100);
    const joinRtmp = await Promise.all(Array.from({ length: JOINS }, () => playWhep(r.whepUrl)));
    await waitFor("keyframes", () => joinRtmp.every((v) => v.firstKeyframeMs !== undefined), 20000, 100).catch(() => undefined);
    const tr = joinRtmp.map((v) => v.firstKeyframeMs ?? Infinity);
    results.push(`time to first keyframe, ${JOINS} simultaneous joins, RTMP source via packetizer (GOP cache): p50 ${pct(tr, 50)} ms, p95 ${pct(tr, 95)} ms; cold start (first viewer) ${warm.firstKeyframeMs} ms`);
    console.log(results.at(-1));
    await Promise.all([...joinRtmp, warm].map((v) => v.stop()));
    await rtmp.stop();
  } finally {
    await w.stop();
  }
  console.log("\n" + results.join("\n"));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
