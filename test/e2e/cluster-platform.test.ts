// The platform features in cluster mode, two Wharf nodes on one PostgreSQL and one Redis: a webhook
// registered on node 1 gets the events of a stream pushed to node 2 (signed, once per event id, after a
// receiver outage), the recordings index is seen from both nodes, a signing key created on node 1
// signs a token that plays on node 2, a key revoked with the CLI on PostgreSQL ends its stream on the
// running nodes, and a node whose Redis goes away answers a capped AI request 503, never 500. The
// recording's MP4 and segments download through node 1 (proxied to node 2, which holds the files),
// and once node 2 is killed node 1 answers them 503, saying they are unavailable until it returns.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ffprobe } from "../../core/ffmpeg.ts";
import { importPKCS8, SignJWT } from "jose";
import { verifySignature } from "../../server/webhooks/signature.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { freePort } from "../support/ports.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { freshSchema, type TestSchema } from "../support/postgres.ts";
import { requireServices } from "../support/services.ts";
import { REPO, startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";

const services = requireServices("WHARF_TEST_DATABASE_URL", "WHARF_TEST_REDIS_URL");

interface Got { id: string; type: string; data: Record<string, unknown>; status: number; signatureValid: boolean }

describe("cluster mode: webhooks, recordings, signed playback, CLI and a Redis outage", { skip: services.skip, timeout: 150_000 }, () => {
  let schema: TestSchema;
  let nodes: WharfProcess[] = [];
  let orch: OrchestratorProcess | undefined;
  let env: Record<string, string>;
  const admin = "test-cluster-platform-" + Math.random().toString(36).slice(2);

  before(async () => {
    schema = await freshSchema(services.url("WHARF_TEST_DATABASE_URL"));
    env = {
      WHARF_DATABASE_URL: schema.url,
      WHARF_REDIS_URL: services.url("WHARF_TEST_REDIS_URL"),
      WHARF_CLUSTER_NAME: schema.name,
      WHARF_ADMIN_KEY: admin,
      WHARF_WEBHOOK_ALLOW_PRIVATE: "true",
    };
    nodes.push(await startWharf({ env })); // migrates and stores the admin key
    nodes.push(await startWharf({ env }));
    [nodes0Id, nodes1Id] = await Promise.all(nodes.map(async (n) => (await n.api("GET", "/v1/cluster", undefined, admin)).body.self as string));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    nodes = [];
    await orch?.kill("SIGTERM");
    await schema?.drop();
  });

  const path = (url: string) => new URL(url).pathname;
  let nodes0Id = "";
  let nodes1Id = "";
  let recording: { id: string; mp4: string } | undefined; // node 2's, once the first test made it

  test("a webhook registered on node 1 gets a stream's events from node 2 once each, signed, after a receiver outage; the recording is listed on both nodes", async () => {
    const got: Got[] = [];
    // The receiver is down (503) for stream.started from its first attempt until 3 s later.
    let firstStartedAt: number | undefined;
    let secret = "";
    const receiver: Server = createServer(async (req, res) => {
      let body = "";
      for await (const c of req) body += c;
      const json = JSON.parse(body) as { id: string; type: string; data: Record<string, unknown> };
      if (json.type === "stream.started") firstStartedAt ??= Date.now();
      const status = json.type === "stream.started" && Date.now() - firstStartedAt! < 3000 ? 503 : 204;
      got.push({ id: json.id, type: json.type, data: json.data, status, signatureValid: verifySignature(secret, body, String(req.headers["wharf-signature"]), Math.floor(Date.now() / 1000)) });
      res.writeHead(status).end();
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    let pub: ReturnType<typeof pushTestPattern> | undefined;
    try {
      const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
      const wh = await nodes[0]!.api("POST", "/v1/webhooks", { url, events: ["stream.started", "stream.idle", "recording.ready"] }, admin);
      assert.equal(wh.status, 201, JSON.stringify(wh.body));
      secret = wh.body.secret;
      const listed = await nodes[1]!.api("GET", "/v1/webhooks", undefined, admin);
      assert.deepEqual(listed.body.webhooks.map((w: { id: string }) => w.id), [wh.body.id], "node 2 lists the webhook");

      const s = await nodes[0]!.api("POST", "/v1/streams", { name: "hooked", pipeline: "passthrough", record: true }, admin);
      assert.equal(s.status, 201, JSON.stringify(s.body));
      pub = pushTestPattern(`${nodes[1]!.rtmp}/${s.body.streamKey}`, { size: "320x180", seconds: 30 });
      await waitFor("stream.started delivered", () => got.some((g) => g.type === "stream.started" && g.status === 204), 30_000, 100);
      const started = got.filter((g) => g.type === "stream.started" && g.data.streamId === s.body.id);
      assert.ok(started.some((g) => g.status === 503), "the first attempt met the outage");
      assert.ok(started.every((g) => g.signatureValid), "every attempt is signed with the webhook's secret");
      assert.equal(new Set(started.map((g) => g.id)).size, 1, "one event (node 2's), not one per node");
      await sleep(3000); // some segments to record
      await pub.stop(500);
      pub = undefined;
      await waitFor("stream.idle and recording.ready delivered", () => ["stream.idle", "recording.ready"].every((t) => got.some((g) => g.type === t && g.status === 204)), 30_000, 100);
      await sleep(1500); // a duplicate would arrive by now
      const delivered = got.filter((g) => g.status === 204);
      const perId = new Map<string, number>();
      for (const g of delivered) perId.set(g.id, (perId.get(g.id) ?? 0) + 1);
      assert.deepEqual([...perId.values()].filter((n) => n > 1), [], `each event id delivered once: ${JSON.stringify(delivered.map((g) => [g.id, g.type]))}`);
      assert.deepEqual(delivered.map((g) => g.type).sort(), ["recording.ready", "stream.idle", "stream.started"]);
      const deliveries = await nodes[1]!.api("GET", `/v1/webhooks/${wh.body.id}/deliveries`, undefined, admin);
      assert.ok(deliveries.body.deliveries.find((d: { type: string; attempts: number; state: string }) => d.type === "stream.started" && d.state === "delivered" && d.attempts >= 2), JSON.stringify(deliveries.body));

      // The recording: listed and described by both nodes; its files served by node 2 (it holds them).
      const recId = (delivered.find((g) => g.type === "recording.ready")!.data.recordingId) as string;
      for (const n of nodes) {
        const list = await n.api("GET", `/v1/recordings?stream=${s.body.id}`, undefined, admin);
        assert.deepEqual(list.body.recordings.map((r: { id: string; state: string }) => [r.id, r.state]), [[recId, "ready"]], `node ${n.http}`);
      }
      const rec = await nodes[0]!.api("GET", `/v1/recordings/${recId}`, undefined, admin);
      assert.equal(rec.status, 200);
      const mp4 = path(rec.body.mp4Url);
      const onOwner = await fetch(nodes[1]!.http + mp4, { headers: { authorization: `Bearer ${admin}` } });
      assert.equal(onOwner.status, 200);
      const ownerBytes = Buffer.from(await onOwner.arrayBuffer());
      assert.ok(ownerBytes.length > 10_000);
      // Through node 1, which did not record it: proxied to node 2, the same bytes.
      const get = (n: WharfProcess, p: string) => fetch(n.http + p, { headers: { authorization: `Bearer ${admin}` } });
      const elsewhere = await get(nodes[0]!, mp4);
      assert.equal(elsewhere.status, 200, `node 1 proxies the MP4 to node 2: ${elsewhere.status}`);
      assert.equal(elsewhere.headers.get("x-wharf-node"), nodes1Id, "answered by node 2");
      assert.equal(elsewhere.headers.get("x-wharf-via"), nodes0Id, "received by node 1");
      const viaBytes = Buffer.from(await elsewhere.arrayBuffer());
      assert.equal(viaBytes.length, ownerBytes.length, "as long as from the owner");
      assert.equal(viaBytes.subarray(4, 8).toString("latin1"), "ftyp", "an MP4 (ftyp box first)");
      assert.ok(viaBytes.equals(ownerBytes), "the same bytes");
      const file = join(mkdtempSync(join(tmpdir(), "wharf-rec-")), "via.mp4");
      writeFileSync(file, viaBytes);
      const probe = await ffprobe(file);
      assert.ok(probe.streams.some((x) => x.codec_type === "video"), JSON.stringify(probe.streams));
      assert.ok(Number(probe.format.duration) > 1, `duration ${probe.format.duration}`);
      // A VOD segment through node 1: the same bytes as from node 2, an MPEG-TS (sync byte 0x47).
      const playlist = await (await get(nodes[0]!, path(rec.body.hlsUrl))).text();
      const seg = new URL(playlist.split("\n").find((l) => l && !l.startsWith("#"))!, rec.body.hlsUrl).pathname;
      const [segVia, segOwner] = await Promise.all([get(nodes[0]!, seg), get(nodes[1]!, seg)]);
      assert.equal(segVia.status, 200, `segment through node 1: ${segVia.status}`);
      assert.equal(segVia.headers.get("x-wharf-via"), nodes0Id);
      const [a, b] = [Buffer.from(await segVia.arrayBuffer()), Buffer.from(await segOwner.arrayBuffer())];
      assert.ok(a.length > 1000 && a.equals(b) && a[0] === 0x47, `segment ${a.length} vs ${b.length} bytes`);
      // No proxying twice: a request already proxied is answered where it lands (a clear 421 here).
      const looped = await fetch(nodes[0]!.http + seg, { headers: { authorization: `Bearer ${admin}`, "x-wharf-proxied-by": "elsewhere" } });
      assert.equal(looped.status, 421);
      assert.match(((await looped.json()) as { message: string }).message, /stored on another node/);
      recording = { id: recId, mp4 };
    } finally {
      await pub?.stop(500);
      receiver.close();
    }
  });

  test("a signing key created on node 1 signs a token that plays the jwt stream on node 2, which owns it", async () => {
    const key = await nodes[0]!.api("POST", "/v1/signing-keys", {}, admin);
    assert.equal(key.status, 201, JSON.stringify(key.body));
    const privateKey = await importPKCS8(key.body.privateKey, "ES256");
    const s = await nodes[0]!.api("POST", "/v1/streams", { name: "signed", pipeline: "passthrough", playbackPolicy: { type: "jwt" } }, admin);
    assert.equal(s.status, 201, JSON.stringify(s.body));
    const pub = pushTestPattern(`${nodes[1]!.rtmp}/${s.body.streamKey}`, { size: "320x180", seconds: 40 });
    try {
      const sign = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: key.body.id }).setSubject(sub).setExpirationTime("10m").sign(privateKey);
      const token = await sign(s.body.id);
      const master = nodes[1]!.http + path(s.body.hlsUrl);
      const text = await waitFor("the playlist with the token on node 2", async () => {
        const r = await fetch(`${master}?jwt=${token}`);
        return r.status === 200 ? r.text() : undefined;
      }, 30_000, 200);
      const rendition = new URL(text.split("\n").find((l) => l && !l.startsWith("#"))!, master).toString();
      const media = await waitFor("a segment listed", async () => {
        const r = await fetch(rendition);
        const t = r.status === 200 ? await r.text() : "";
        return t.split("\n").find((l) => l && !l.startsWith("#")) ? t : undefined;
      }, 30_000, 200);
      const seg = new URL(media.split("\n").find((l) => l && !l.startsWith("#"))!, rendition).toString();
      assert.equal((await fetch(seg)).status, 200, "a segment with the token");
      assert.equal((await fetch(master)).status, 401, "no token");
      assert.equal((await fetch(seg.replace(/jwt=[^&]*/, "jwt=" + (await sign("str_other"))))).status, 403, "another stream's token");
    } finally {
      await pub.stop(500);
    }
  });

  test("a key revoked with the CLI on PostgreSQL is refused by both nodes and its live stream on node 2 ended within 2 s", async () => {
    const k = await nodes[0]!.api("POST", "/v1/keys", { name: "cli-revoked", scopes: ["streams"] }, admin);
    assert.equal(k.status, 201);
    const s = await nodes[0]!.api("POST", "/v1/streams", { name: "cam", pipeline: "passthrough" }, k.body.secret);
    assert.equal(s.status, 201, JSON.stringify(s.body));
    const pub = pushTestPattern(`${nodes[1]!.rtmp}/${s.body.streamKey}`, { size: "320x180", seconds: 60 });
    try {
      await waitFor("the stream live on node 2", async () => (await fetch(`${nodes[1]!.http}/v1/streams/${s.body.id}/hls/index.m3u8`)).status === 200, 30_000, 200);
      assert.equal((await nodes[1]!.api("GET", "/v1/streams", undefined, k.body.secret)).status, 200, "node 2 has the key cached");
      const t0 = Date.now();
      const cli = spawnSync(process.execPath, ["--import", "tsx", "server/cli.ts", "keys", "revoke", k.body.key.id], {
        cwd: REPO, encoding: "utf8", timeout: 30_000,
        env: { ...process.env, WHARF_DATABASE_URL: schema.url, WHARF_REDIS_URL: env.WHARF_REDIS_URL!, WHARF_CLUSTER_NAME: schema.name, WHARF_LOG_LEVEL: "error" },
      });
      assert.equal(cli.status, 0, cli.stderr);
      assert.match(cli.stdout, /Revoked/);
      const revokedAt = Date.now();
      await waitFor("both nodes refuse the key", async () => (await Promise.all(nodes.map((n) => n.api("GET", "/v1/streams", undefined, k.body.secret)))).every((r) => r.status === 401), 2000, 50);
      await waitFor("node 2 ended the stream", async () => {
        const audit = await nodes[1]!.api("GET", `/v1/audit?action=stream.kicked&keyId=${s.body.id}`, undefined, admin);
        return (audit.body?.entries ?? []).some((e: { target: string }) => e.target === s.body.id);
      }, 2000, 50);
      assert.ok(Date.now() - revokedAt <= 2500, `took ${Date.now() - revokedAt} ms after the CLI returned (CLI ran ${revokedAt - t0} ms)`);
    } finally {
      await pub.stop(500);
    }
  });

  test("Redis gone under a node: a capped AI request's spend reservation is a 503 with the reason, never a 500, and the node stays up", async () => {
    orch = await startOrchestratorProcess(["--no-live"], { http: true });
    const redisPort = await freePort();
    const redis: ChildProcess = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    try {
      await waitFor("the dedicated redis-server", () => spawnSync("redis-cli", ["-p", String(redisPort), "ping"], { encoding: "utf8" }).stdout.trim() === "PONG", 10_000, 100);
      const node = await startWharf({ env: { ...env, WHARF_REDIS_URL: redisUrl, WHARF_ORCH_ADDR: orch.url } });
      nodes.push(node);
      const k = await node.api("POST", "/v1/keys", { name: "capped", scopes: ["ai"], spendCaps: { daily: 5 } }, admin);
      assert.equal(k.status, 201, JSON.stringify(k.body));
      assert.equal(k.body.key.spendCaps.daily, 5, JSON.stringify(k.body.key));
      const ask = () => fetch(`${node.http}/text-to-image`, {
        method: "POST", headers: { authorization: `Bearer ${k.body.secret}`, "content-type": "application/json" }, body: JSON.stringify({ prompt: "p", width: 64, height: 64 }),
      });
      const ok = await waitFor("an answer while Redis is up", async () => {
        const r = await ask();
        return r.status === 200 ? r : undefined;
      }, 20_000, 250);
      await ok.arrayBuffer();

      redis.kill("SIGKILL");
      await waitFor("redis-server gone", () => redis.exitCode !== null || redis.signalCode !== null, 5000, 50);
      const answers = await Promise.all(Array.from({ length: 5 }, () => ask()));
      for (const r of answers) {
        const text = await r.text();
        assert.equal(r.status, 503, text);
        assert.match(text, /Redis|cluster|refusing/i, text);
        assert.doesNotMatch(text, /internal error/i, text);
      }
      // A rate-limited key meets Redis first in the key guard: the same clear 503.
      const limited = await node.api("POST", "/v1/keys", { name: "limited", scopes: ["ai"], rateLimit: { requestsPerMinute: 600 } }, admin);
      assert.equal(limited.status, 201, JSON.stringify(limited.body));
      const viaGuard = await fetch(`${node.http}/text-to-image`, {
        method: "POST", headers: { authorization: `Bearer ${limited.body.secret}`, "content-type": "application/json" }, body: JSON.stringify({ prompt: "p", width: 64, height: 64 }),
      });
      const guardText = await viaGuard.text();
      assert.equal(viaGuard.status, 503, guardText);
      assert.match(guardText, /cannot reach Redis/, guardText);
      assert.doesNotMatch(guardText, /internal error/i, guardText);
      assert.equal(node.proc.exitCode, null, "the node is still running");
      assert.equal((await fetch(`${node.http}/healthz`)).status, 200);
      const ready = await node.api("GET", "/readyz");
      assert.equal(ready.status, 503, JSON.stringify(ready.body));
      assert.equal(ready.body.checks.redis, false);
    } finally {
      if (redis.exitCode === null && redis.signalCode === null) redis.kill("SIGKILL");
    }
  });

  test("node 2 killed: its recording through node 1 is a 503 saying it is unavailable until node 2 returns", async (t) => {
    if (!recording) return t.skip("the recording test did not make a recording");
    await nodes[1]!.stop("SIGKILL");
    const r = await fetch(nodes[0]!.http + recording.mp4, { headers: { authorization: `Bearer ${admin}` } });
    const body = (await r.json()) as { error: string; message: string };
    assert.equal(r.status, 503, JSON.stringify(body));
    assert.equal(r.headers.get("retry-after"), "2");
    assert.match(body.message, new RegExp(`recording ${recording.id} is stored on node .*unavailable until it returns`), body.message);
    // Once its heartbeat is gone (6 s): said without trying it.
    await sleep(6500);
    const later = await fetch(`${nodes[0]!.http}/v1/recordings/${recording.id}`, { method: "DELETE", headers: { authorization: `Bearer ${admin}` } });
    const laterBody = (await later.json()) as { message: string };
    assert.equal(later.status, 503, JSON.stringify(laterBody));
    assert.match(laterBody.message, /which is not running now; a node's recordings are unavailable until it returns/);
  });
});
