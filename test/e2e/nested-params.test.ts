// Stream params nested thousands of levels deep: refused with a 400 naming the field, on
// every route that takes them (create, live params, go-livepeer's update); never a 500 from
// the stream store's JSON.stringify running out of stack.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startWharf, type WharfProcess } from "../support/wharf.ts";

/** `{"a":{"a":...1...}}`, `depth` objects deep, as JSON text. */
const nestedJson = (depth: number) => {
  let s = "1";
  for (let i = 0; i < depth; i++) s = `{"a":${s}}`;
  return s;
};

describe("deeply nested stream params", { timeout: 60_000 }, () => {
  let wharf: WharfProcess;
  let streamId: string;

  before(async () => {
    wharf = await startWharf();
    const created = await wharf.api("POST", "/v1/streams", { name: "params", pipeline: "live-video-to-video" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    streamId = created.body.id;
  });
  after(async () => {
    await wharf?.stop();
  });

  for (const depth of [4_100, 20_000]) {
    test(`params ${depth} levels deep: 400 naming the field on create, params update and go-livepeer update`, async () => {
      const deep = nestedJson(depth);
      const create = await wharf.api("POST", "/v1/streams", `{"name":"deep","pipeline":"live-video-to-video","params":${deep}}`);
      assert.equal(create.status, 400, JSON.stringify(create.body).slice(0, 300));
      assert.match(create.body.message, /body\/params .*deeper than 32 levels/);
      const update = await wharf.api("POST", `/v1/streams/${streamId}/params`, `{"params":${deep}}`);
      assert.equal(update.status, 400, JSON.stringify(update.body).slice(0, 300));
      assert.match(update.body.message, /body\/params .*deeper than 32 levels/);
      const goUpdate = await wharf.api("POST", `/live/video-to-video/${streamId}/update`, deep);
      assert.equal(goUpdate.status, 400, JSON.stringify(goUpdate.body).slice(0, 300));
      assert.match(goUpdate.body.message, /body .*deeper than 32 levels/);
    });
  }

  test("params 32 levels deep are still taken and stored as sent", async () => {
    const ok = nestedJson(31); // params itself is the 32nd level
    const update = await wharf.api("POST", `/v1/streams/${streamId}/params`, `{"params":${ok}}`);
    assert.equal(update.status, 200, JSON.stringify(update.body).slice(0, 300));
    const stored = await wharf.api("GET", `/v1/streams/${streamId}`);
    assert.deepEqual(stored.body.params, JSON.parse(ok));
    assert.equal(wharf.proc.exitCode, null, "Wharf is still running");
  });
});
