// Daydream-shaped stream API: the create answer's whip_url, stream_key and output_playback_id,
// and PATCH /v1/streams/{id} with {"params"} updating a live AI stream's params.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startWharf, type WharfProcess } from "../support/wharf.ts";

let w: WharfProcess;

describe("Daydream compatibility", { timeout: 150_000 }, () => {
  before(async () => {
    w = await startWharf();
  });
  after(async () => {
    await w?.stop();
  });

  test("the create answer carries whip_url, stream_key and output_playback_id", async () => {
    const s = await w.api("POST", "/v1/streams", { name: "dd", pipeline: "live-video-to-video", modelId: "noop" });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    assert.equal(s.body.whip_url, `${w.http}/v1/streams/${s.body.id}/whip`);
    assert.equal(s.body.stream_key, s.body.streamKey);
    assert.equal(s.body.output_playback_id, s.body.id);
  });

  test("PATCH with params stores them (sent to the orchestrator when live); other pipelines refuse params", async () => {
    const s = await w.api("POST", "/v1/streams", { name: "dd2", pipeline: "live-video-to-video", modelId: "noop" });
    const r = await w.api("PATCH", `/v1/streams/${s.body.id}`, { params: { prompt: "a lighthouse" } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.params, { prompt: "a lighthouse" });
    assert.deepEqual((await w.api("GET", `/v1/streams/${s.body.id}`)).body.params, { prompt: "a lighthouse" });
    const p = await w.api("POST", "/v1/streams", { name: "plain", pipeline: "passthrough" });
    const refused = await w.api("PATCH", `/v1/streams/${p.body.id}`, { params: { prompt: "x" } });
    assert.equal(refused.status, 400);
    assert.match(refused.body.message, /params apply to live-video-to-video/);
  });
});
