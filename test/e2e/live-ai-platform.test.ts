// Platform features on a live AI stream, against real processes: `gateway_status` in the status
// (go-livepeer's and Daydream's shape), the webhooks stream.orchestrator_swap and stream.error
// delivered signed to a receiver on loopback, and `record: true` recording the AI output.
// Two development orchestrators with live faults; a stalled one is swapped (restart 1), and with
// liveMaxSwaps 1 the second stall ends the stream (stream.error).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { ffprobe } from "../../core/ffmpeg.ts";
import { verifySignature } from "../../server/webhooks/signature.ts";
import type { OrchestratorProcess } from "../support/orchestrator.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";
import { faultableLiveOrchestrators, pushBars, setLiveFaults, SIZE, waitForNewSegments, waitForSegments } from "./live-ai.helpers.ts";

interface Received { type: string; data: Record<string, any>; signatureValid: boolean }

let a: OrchestratorProcess;
let b: OrchestratorProcess;
let w: WharfProcess;
let receiver: Server;
let secret = "";
const got: Received[] = [];

async function status(id: string): Promise<any> {
  const r = await w.api("GET", `/v1/streams/${id}/status`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

const received = (type: string, streamId: string) => () => got.find((g) => g.type === type && g.data.streamId === streamId);

describe("live AI: gateway_status, swap and error webhooks, recording of the AI output", { timeout: 150_000 }, () => {
  before(async () => {
    receiver = createServer(async (req, res) => {
      let body = "";
      for await (const c of req) body += c;
      const json = JSON.parse(body) as { type: string; data: Record<string, unknown> };
      got.push({ type: json.type, data: json.data, signatureValid: verifySignature(secret, body, String(req.headers["wharf-signature"]), Math.floor(Date.now() / 1000)) });
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    [a, b] = await faultableLiveOrchestrators();
    w = await startWharf({
      env: {
        WHARF_ORCH_ADDR: `${a.url},${b.url}`,
        WHARF_SEGMENT_DURATION: "1",
        WHARF_LIVE_NO_OUTPUT_FACTOR: "2",
        WHARF_LIVE_MAX_SWAPS: "1",
        WHARF_WEBHOOK_ALLOW_PRIVATE: "true",
      },
    });
    const port = (receiver.address() as { port: number }).port;
    const hook = await w.api("POST", "/v1/webhooks", { url: `http://127.0.0.1:${port}/hook`, events: ["stream.orchestrator_swap", "stream.error", "recording.ready"] });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
    secret = hook.body.secret;
  });
  after(async () => {
    await w?.stop();
    await Promise.allSettled([a?.kill(), b?.kill()]);
    receiver?.closeAllConnections();
    receiver?.close();
  });

  test("status carries gateway_status; a swap and a fatal failure reach the webhook receiver; the AI output is recorded", async () => {
    const created = await w.api("POST", "/v1/streams", { name: "live-platform", pipeline: "live-video-to-video", modelId: "noop", record: true });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const s = created.body as { id: string; rtmpUrl: string; hlsUrl: string };
    const pub = pushBars(s.rtmpUrl);
    try {
      await waitForSegments(s.hlsUrl, 3, 30_000);
      // --- gateway_status of a healthy live AI stream
      const healthy = await waitFor("input fps measured", async () => {
        const st = await status(s.id);
        return st.gateway_status.input_fps > 0 ? st : undefined;
      }, 10_000, 250);
      const g = healthy.gateway_status;
      assert.equal(g.stream_id, s.id);
      assert.equal(g.state, "ONLINE");
      assert.equal(g.ingest_metrics.protocol, "rtmp");
      assert.ok(g.ingest_metrics.bytes_received > 0);
      assert.deepEqual([g.ingest_metrics.video.width, g.ingest_metrics.video.height], SIZE.split("x").map(Number));
      assert.equal(g.orchestrator_url, healthy.processor.orchestrator.address);
      assert.equal(g.restarts, 0);
      assert.equal(g.last_error, null);
      // go-livepeer's path answers the same.
      const golp = await w.api("GET", `/live/video-to-video/${s.id}/status`);
      assert.equal(golp.body.gateway_status.orchestrator_url, g.orchestrator_url);

      // --- the active orchestrator stalls: swapped, restarts 1, last_error says why, webhook sent
      const first = g.orchestrator_url as string;
      const stalledAt = Date.now();
      await setLiveFaults(first === a.url ? a : b, { stallOutput: true });
      const swapped = await waitFor("swap", async () => {
        const st = await status(s.id);
        return st.gateway_status.restarts === 1 && st.gateway_status.orchestrator_url && st.gateway_status.orchestrator_url !== first ? st.gateway_status : undefined;
      }, 15_000, 200);
      assert.equal(swapped.last_restart_reason, "no-output");
      assert.match(swapped.last_error, new RegExp(`orchestrator ${first.replace(/[.:/]/g, "\\$&")} failed \\(no-output\\)`));
      assert.ok(swapped.last_error_time >= stalledAt, `last_error_time ${swapped.last_error_time} after the stall at ${stalledAt}`);
      const swapEvent = await waitFor("stream.orchestrator_swap delivered", received("stream.orchestrator_swap", s.id), 15_000, 100);
      assert.ok(swapEvent.signatureValid, "signed with the webhook's secret");
      assert.equal(swapEvent.data.from, first);
      assert.equal(swapEvent.data.reason, "no-output");
      await setLiveFaults(first === a.url ? a : b, { stallOutput: false });
      await waitForNewSegments(s.hlsUrl, stalledAt, 3, 15_000);

      // --- the second orchestrator stalls too: over liveMaxSwaps, the stream ends (stream.error)
      const second = swapped.orchestrator_url as string;
      await setLiveFaults(second === a.url ? a : b, { stallOutput: true });
      const errorEvent = await waitFor("stream.error delivered", received("stream.error", s.id), 20_000, 100);
      assert.ok(errorEvent.signatureValid);
      assert.equal(errorEvent.data.reason, "failed");
      assert.match(String(errorEvent.data.detail), /swaps/);
      const ended = await status(s.id);
      assert.equal(ended.gateway_status.state, "OFFLINE");
      assert.match(ended.gateway_status.last_error, /^stream ended: failed \(live AI: .*swaps/);
      await setLiveFaults(second === a.url ? a : b, { stallOutput: false });
    } finally {
      await pub.stop();
    }

    // --- the session was recorded: the AI output (the source is not a rendition of a live AI stream)
    const ready = await waitFor("recording.ready delivered", received("recording.ready", s.id), 60_000, 200);
    const r = await w.api("GET", `/v1/recordings/${ready.data.recordingId}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.state, "ready", JSON.stringify(r.body));
    assert.ok(r.body.durationSeconds >= 3, `recorded ${r.body.durationSeconds} s of AI output`);
    const mp4 = await ffprobe(r.body.mp4Url, ["-headers", `Authorization: Bearer ${w.adminKey}\r\n`]);
    const video = mp4.streams.find((x) => x.codec_type === "video") as { width?: number; height?: number } | undefined;
    assert.ok(video, "the MP4 has video");
    assert.deepEqual([video.width, video.height], SIZE.split("x").map(Number));
  });
});
