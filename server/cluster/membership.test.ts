// GET /v1/cluster on a single node (no Redis): this node alone, its load and live streams.
import { test } from "node:test";
import assert from "node:assert/strict";
import Fastify from "fastify";
import { Membership, type NodeView } from "./membership.ts";
import { REPO_ROOT } from "../api/app.ts";

test("single node: GET /v1/cluster lists this node with its streams and in-flight batch AI; admin guard applies", async () => {
  const app = Fastify();
  const m = new Membership({ nodeId: "node_one", address: () => "http://127.0.0.1:8935", liveStreams: () => ["s1", "s2"], rootDir: REPO_ROOT });
  m.register(app, async (req, reply) => {
    if (req.headers.authorization !== "Bearer admin") return reply.code(401).send({ error: "unauthorized", message: "admin key needed" });
  });
  let finish!: () => void;
  const held = new Promise<void>((r) => (finish = r));
  app.post("/text-to-image", async () => {
    await held;
    return { images: [] };
  });
  try {
    assert.equal((await app.inject({ method: "GET", url: "/v1/cluster" })).statusCode, 401);
    const pending = app.inject({ method: "POST", url: "/text-to-image", payload: { prompt: "x" } });
    await new Promise((r) => setTimeout(r, 50));
    const res = await app.inject({ method: "GET", url: "/v1/cluster", headers: { authorization: "Bearer admin" } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers["x-wharf-node"], "node_one");
    const body = res.json() as { mode: string; self: string; nodes: NodeView[] };
    assert.equal(body.mode, "single");
    assert.equal(body.nodes.length, 1);
    const n = body.nodes[0]!;
    assert.equal(n.id, "node_one");
    assert.equal(n.address, "http://127.0.0.1:8935");
    assert.deepEqual(n.streams, ["s1", "s2"]);
    assert.equal(n.load.liveStreams, 2);
    assert.equal(n.load.aiInFlight, 1);
    assert.ok(n.load.rssBytes > 0);
    assert.match(n.version, /^\d+\.\d+\.\d+/);
    finish();
    assert.equal((await pending).statusCode, 200);
    const after = (await app.inject({ method: "GET", url: "/v1/cluster", headers: { authorization: "Bearer admin" } })).json() as { nodes: NodeView[] };
    assert.equal(after.nodes[0]!.load.aiInFlight, 0);
  } finally {
    await m.stop();
    await app.close();
  }
});
