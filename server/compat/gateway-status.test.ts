import { test } from "node:test";
import assert from "node:assert/strict";
import { gatewayStatus } from "./gateway-status.ts";

test("a live AI stream: ingest metrics, orchestrators, frame rates, restarts and the last error from the last swap", () => {
  const g = gatewayStatus({
    streamId: "s1",
    pipeline: "live-video-to-video",
    stream: {
      state: "live",
      ingest: { protocol: "rtmp", startedAt: "2026-01-01T00:00:00.000Z", uptimeSeconds: 12.5, bitrate: 800000, bytesIn: 1200000, segmentsIn: 12, keyframeInterval: 1, warnings: [], video: { codec: "h264", width: 320, height: 240, fps: 30 } },
      lastEnded: { at: "2025-12-31T00:00:00.000Z", reason: "publisher-left" },
      lastRefusal: null,
    },
    processor: {
      state: "running",
      orchestrator: { address: "https://b" },
      standby: { address: "https://a", state: "ready" },
      input: { fps: 30 },
      output: { fps: 29.5 },
      swapCount: 1,
      swaps: [{ at: "2026-01-01T00:00:05.000Z", reason: "no-output", detail: "no output for 2 s", from: "https://a", to: "https://b", durationMs: 300 }],
    },
  });
  assert.equal(g.state, "ONLINE");
  assert.deepEqual(g.ingest_metrics, {
    protocol: "rtmp", started_at: Date.parse("2026-01-01T00:00:00.000Z"), uptime_seconds: 12.5, bitrate_bps: 800000, bytes_received: 1200000,
    segments_received: 12, keyframe_interval_seconds: 1, video: { codec: "h264", width: 320, height: 240, fps: 30 }, warnings: [],
  });
  assert.equal(g.orchestrator_url, "https://b");
  assert.equal(g.standby_orchestrator_url, "https://a");
  assert.equal(g.input_fps, 30);
  assert.equal(g.output_fps, 29.5);
  assert.equal(g.restarts, 1);
  assert.equal(g.last_restart_reason, "no-output");
  assert.equal(g.last_restart_time, Date.parse("2026-01-01T00:00:05.000Z"));
  assert.match(String(g.last_error), /orchestrator https:\/\/a failed \(no-output\): no output for 2 s/);
  assert.equal(g.last_error_time, Date.parse("2026-01-01T00:00:05.000Z"));
});

test("an idle stream: no ingest, the newest failure wins (a failed end after an older refusal); a publisher that left is no error", () => {
  const g = gatewayStatus({
    streamId: "s2",
    pipeline: "passthrough",
    stream: {
      state: "idle",
      ingest: null,
      lastEnded: { at: "2026-01-01T00:01:00.000Z", reason: "failed", detail: "live AI: 3 swaps" },
      lastRefusal: { at: "2026-01-01T00:00:00.000Z", status: 403, reason: "key revoked" },
    },
    processor: null,
  });
  assert.equal(g.state, "OFFLINE");
  assert.equal(g.ingest_metrics, null);
  assert.equal(g.orchestrator_url, null);
  assert.equal(g.restarts, 0);
  assert.equal(g.last_error, "stream ended: failed (live AI: 3 swaps)");
  assert.equal(g.last_error_time, Date.parse("2026-01-01T00:01:00.000Z"));

  const left = gatewayStatus({ streamId: "s3", pipeline: "passthrough", stream: { state: "idle", lastEnded: { at: "2026-01-01T00:01:00.000Z", reason: "publisher-left" } }, processor: null });
  assert.equal(left.last_error, null);
  assert.equal(left.last_error_time, null);
  assert.equal(gatewayStatus({ streamId: "s4", pipeline: "passthrough", processor: null }).ingest_metrics, null);
});
