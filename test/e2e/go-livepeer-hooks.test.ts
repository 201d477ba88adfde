// go-livepeer's live AI hooks against Wharf, as an operator migrating from go-livepeer runs them:
// the auth webhook refuses one publisher and sets another's parameters; the heartbeat service's
// terminatedStreamIds end a live stream with reason credit_exhaustion.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { pushTestPattern } from "../support/publisher.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";

interface Seen {
  auth: Array<{ headers: http.IncomingHttpHeaders; body: Record<string, unknown> }>;
  heartbeats: Array<{ ids: string[] }>;
}

describe("go-livepeer live AI hooks", { timeout: 90_000 }, () => {
  const seen: Seen = { auth: [], heartbeats: [] };
  const terminate = new Set<string>();
  let refuseKey = "";
  let hooks: http.Server;
  let w: WharfProcess;

  before(async () => {
    hooks = http.createServer((req, res) => {
      let raw = "";
      req.on("data", (c) => (raw += c));
      req.on("end", () => {
        const body = JSON.parse(raw || "{}");
        if (req.url === "/auth") {
          seen.auth.push({ headers: req.headers, body });
          if (body.stream_key === refuseKey) return void res.writeHead(403).end("no credit");
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ pipeline_parameters: { prompt: "from the webhook" } }));
          return;
        }
        seen.heartbeats.push(body);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ terminatedStreamIds: body.ids.filter((id: string) => terminate.has(id)) }));
      });
    });
    await new Promise<void>((r) => hooks.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`;
    w = await startWharf({
      env: {
        WHARF_LIVE_AI_AUTH_WEBHOOK_URL: `${base}/auth`,
        WHARF_LIVE_AI_AUTH_API_KEY: "hook-secret-key",
        WHARF_LIVE_AI_HEARTBEAT_URL: `${base}/heartbeat`,
        WHARF_LIVE_AI_HEARTBEAT_INTERVAL: "0.5",
      },
    });
  });
  after(async () => {
    await w?.stop();
    hooks?.close();
  });

  test("the auth webhook refuses a publisher; an accepted one gets the webhook's parameters", async () => {
    const bad = (await w.api("POST", "/v1/streams", { name: "refused", pipeline: "live-video-to-video", modelId: "noop" })).body;
    refuseKey = bad.streamKey;
    const code = (await pushTestPattern(bad.rtmpUrl, { seconds: 3, size: "320x180" }).exited).code;
    assert.notEqual(code, 0, "refused publisher");
    const view = (await w.api("GET", `/v1/streams/${bad.id}`)).body;

    assert.equal(view.lastRefusal?.status, 403);
    assert.match(view.lastRefusal.reason, /auth webhook refused/);
    const call = seen.auth.find((c) => c.body.stream_key === bad.streamKey)!;
    assert.equal(call.headers["x-api-key"], "hook-secret-key");
    assert.equal(call.headers.authorization, "hook-secret-key");
    assert.equal(call.body.type, "rtmp");
    assert.match(String(call.body.whep_url), new RegExp(`/v1/streams/${bad.id}/whep$`));

    const good = (await w.api("POST", "/v1/streams", { name: "accepted", pipeline: "live-video-to-video", modelId: "noop" })).body;
    const pub = pushTestPattern(good.rtmpUrl, { seconds: 20, size: "320x180" });
    try {
      await waitFor("live", async () => (await w.api("GET", `/v1/streams/${good.id}`)).body.state === "live", 10_000, 200);
      assert.deepEqual((await w.api("GET", `/v1/streams/${good.id}`)).body.params, { prompt: "from the webhook" });
      // The heartbeat lists it; the service terminates it.
      await waitFor("heartbeat lists the stream", async () => seen.heartbeats.some((h) => h.ids.includes(good.id)), 5_000, 100);
      terminate.add(good.id);
      const ended = await waitFor("ended by the heartbeat", async () => {
        const v = (await w.api("GET", `/v1/streams/${good.id}`)).body;
        return v.state === "idle" && v.lastEnded ? v : undefined;
      }, 5_000, 100);
      assert.equal(ended.lastEnded.reason, "credit_exhaustion");
    } finally {
      pub.child.kill("SIGKILL");
    }
    assert.ok(!w.output().includes("hook-secret-key"), "the API key is never logged");
  });
});
