// One request id tells a batch AI request's story: the id the client gets (x-request-id) is the
// one on every log line of the request (selection, the orchestrator's answer, the usage record,
// the suspension of an orchestrator that failed it), on its usage record and on its events.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
let orch: OrchestratorProcess;
let w: WharfProcess;

/** Wharf's JSON log lines that mention `id` in a request id field. */
function linesOf(id: string): Array<Record<string, any>> {
  return w
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, any>)
    .filter((l) => l.requestId === id || l.reqId === id);
}

async function t2i(prompt: string) {
  const res = await fetch(`${w.http}/text-to-image`, {
    method: "POST",
    headers: { authorization: `Bearer ${w.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model_id: "", prompt, width: 64, height: 64 }),
  });
  await res.arrayBuffer();
  return { status: res.status, id: res.headers.get("x-request-id") ?? "" };
}

describe("request ids through a batch AI request", { timeout: 60_000 }, () => {
  before(async () => {
    orch = await startOrchestratorProcess(["--control", "--no-live", "--ai-zero-cost"], { http: true });
    w = await startWharf({ env: { WHARF_ORCH_ADDR: orch.url, WHARF_LOG_LEVEL: "debug" } });
  });
  after(async () => {
    await w?.stop();
    await orch?.kill("SIGTERM");
  });

  test("a served request: selection, the orchestrator's answer and the usage record carry the id the client got", async () => {
    const r = await t2i("tell my story");
    assert.equal(r.status, 200);
    assert.match(r.id, UUID_V7);
    await waitFor("the usage record's log line", () => linesOf(r.id).some((l) => l.msg === "usage recorded"), 5000, 50);
    const story = linesOf(r.id);
    assert.deepEqual(story.map((l) => l.msg), ["orchestrator selected", "orchestrator answered", "usage recorded"]);
    assert.equal(story[0]!.orchestrator, orch.url);
    assert.equal(story[1]!.status, 200);
    const usage = await w.api("GET", `/v1/usage?pipeline=text-to-image`);
    assert.equal(usage.status, 200, JSON.stringify(usage.body));
    assert.ok(usage.body.records.some((u: { requestId: string }) => u.requestId === r.id), "the usage record has the request id");
  });

  test("a failed request: the id is on the answer, the failed call and the orchestrator's suspension (log line and event)", async () => {
    await orch.configure({ failRate: 1 });
    const r = await t2i("fail me");
    assert.equal(r.status, 503);
    assert.match(r.id, UUID_V7);
    await waitFor("the suspension's log line", () => linesOf(r.id).some((l) => l.msg === "orchestrator suspended"), 5000, 50);
    const story = linesOf(r.id);
    assert.deepEqual(story.map((l) => l.msg), ["orchestrator selected", "orchestrator answered", "orchestrator suspended"]);
    assert.equal(story[1]!.status, 500);
    assert.equal(story[2]!.module, "orchestrators");
    // The event stream tells it too.
    const res = await fetch(`${w.http}/v1/events?types=orchestrator.suspended`, { headers: { authorization: `Bearer ${w.adminKey}` } });
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes(r.id)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    assert.ok(text.includes(`"requestId":"${r.id}"`), text);
    await orch.configure({ failRate: 0 });
  });
});
