// Three Wharf nodes behind HAProxy (HTTP round robin for the API, TCP for RTMP) on one PostgreSQL,
// one Redis and one development orchestrator: a stream pushed and played through the load balancer
// whichever node answers, one publisher per stream in the whole cluster, GET /v1/cluster, and the
// owner's SIGKILL: the publisher reconnects through the load balancer and the same HLS URL goes on
// from another node (after an EXT-X-DISCONTINUITY, sequence numbers continued), with every answered
// batch AI request billed exactly once.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FfmpegProcess } from "../../core/ffmpeg.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { freePort } from "../support/ports.ts";
import { freshSchema, type TestSchema } from "../support/postgres.ts";
import { requireServices } from "../support/services.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { playWhep } from "../support/whip-client.ts";

const services = requireServices("WHARF_TEST_DATABASE_URL", "WHARF_TEST_REDIS_URL");

function haproxyConfig(http: number, rtmp: number, nodes: WharfProcess[]): string {
  const servers = (port: (n: WharfProcess) => number) => nodes.map((n, i) => `  server n${i} 127.0.0.1:${port(n)} check inter 500 fall 2 rise 2`).join("\n");
  return `global
  maxconn 2000
defaults
  timeout connect 2s
  # A check's whole exchange (/readyz pings PostgreSQL and Redis): on a loaded 2-core machine the
  # default (inter, 500 ms) took all three nodes down at once, and the next request got HAProxy's 503.
  timeout check 5s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  retries 2
  option redispatch
frontend api
  mode http
  bind 127.0.0.1:${http}
  default_backend wharf_http
backend wharf_http
  mode http
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
${servers((n) => n.httpPort)}
frontend rtmp
  mode tcp
  bind 127.0.0.1:${rtmp}
  default_backend wharf_rtmp
backend wharf_rtmp
  mode tcp
  balance roundrobin
${servers((n) => n.rtmpPort)}
`;
}

type Answer = { status: number; text: string; headers: Headers };
const get = async (url: string, headers: Record<string, string> = {}): Promise<Answer> => {
  const res = await fetch(url, { headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
};
/** The node the load balancer picked (the proxying one when the answer came from the owner). */
const entryNode = (a: Answer) => a.headers.get("x-wharf-via") ?? a.headers.get("x-wharf-node");
const mediaSequence = (playlist: string) => Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)?.[1] ?? NaN);

describe("cluster behind HAProxy: three nodes, one public URL", { skip: services.skip, timeout: 180_000 }, () => {
  let schema: TestSchema;
  let orch: OrchestratorProcess;
  let nodes: WharfProcess[] = [];
  let haproxy: ChildProcess | undefined;
  let haproxyOut = "";
  let dir = "";
  let lb = "";
  let lbRtmp = "";
  const admin = "test-lb-admin-" + Math.random().toString(36).slice(2);

  before(async () => {
    schema = await freshSchema(services.url("WHARF_TEST_DATABASE_URL"));
    orch = await startOrchestratorProcess(["--no-live"], { http: true });
    const env = {
      WHARF_DATABASE_URL: schema.url,
      WHARF_REDIS_URL: services.url("WHARF_TEST_REDIS_URL"),
      WHARF_CLUSTER_NAME: schema.name,
      WHARF_ADMIN_KEY: admin,
      WHARF_ORCH_ADDR: orch.url,
    };
    // One after the other: the first one migrates, and three tsx starts at once on a loaded 2-core machine can pass 30 s.
    for (let i = 0; i < 3; i++) nodes.push(await startWharf({ env }));
    dir = mkdtempSync(join(tmpdir(), "wharf-haproxy-"));
    const [http, rtmp] = [await freePort(), await freePort()];
    writeFileSync(join(dir, "haproxy.cfg"), haproxyConfig(http, rtmp, nodes));
    haproxy = spawn("/usr/sbin/haproxy", ["-db", "-f", join(dir, "haproxy.cfg")], { stdio: ["ignore", "pipe", "pipe"] });
    haproxy.stdout!.on("data", (d) => (haproxyOut += d));
    haproxy.stderr!.on("data", (d) => (haproxyOut += d));
    lb = `http://127.0.0.1:${http}`;
    lbRtmp = `rtmp://127.0.0.1:${rtmp}/live`;
    // Every server up: three /readyz in a row through the load balancer come from three nodes.
    await waitFor("HAProxy sees the three nodes", async () => {
      if (haproxy!.exitCode !== null) throw new Error(`haproxy exited: ${haproxyOut}`);
      const seen = new Set<string | null>();
      for (let i = 0; i < 3; i++) {
        const r = await get(`${lb}/readyz`).catch(() => undefined);
        if (r?.status !== 200) return false;
        seen.add(r.headers.get("x-wharf-node"));
      }
      return seen.size === 3;
    }, 20_000, 300);
  });
  after(async () => {
    haproxy?.kill("SIGTERM");
    await Promise.all(nodes.map((n) => n.stop()));
    nodes = [];
    await orch?.kill("SIGTERM");
    await schema?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const api = async (method: string, path: string, body?: unknown, key = admin) => {
    const res = await fetch(lb + path, { method, headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    if (text && !res.headers.get("content-type")?.includes("json")) throw new Error(`${method} ${path}: ${res.status} from ${res.headers.get("x-wharf-node") ?? "the load balancer"}: ${text.slice(0, 200)}`);
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };

  test("RTMP and HLS and WHEP through the load balancer; one publisher per stream; GET /v1/cluster; the owner's SIGKILL", async () => {
    const k = await api("POST", "/v1/keys", { name: "lb", scopes: ["streams", "ai"] });
    assert.equal(k.status, 201, JSON.stringify(k.body));
    const secret = k.body.secret as string;
    const s = await api("POST", "/v1/streams", { name: "lb-cam", pipeline: "passthrough" }, secret);
    assert.equal(s.status, 201, JSON.stringify(s.body));
    const id = s.body.id as string;
    const streamKey = s.body.streamKey as string;
    const hls = `${lb}/v1/streams/${id}/hls`;

    // A stream made on one node is read, changed and deleted through the others before it is ever live.
    const idle = await nodes[0]!.api("POST", "/v1/streams", { name: "idle", pipeline: "passthrough" }, secret);
    assert.equal(idle.status, 201);
    assert.equal((await nodes[1]!.api("GET", `/v1/streams/${idle.body.id}`, undefined, secret)).body.name, "idle");
    assert.ok((await nodes[2]!.api("GET", "/v1/streams", undefined, secret)).body.streams.some((x: { id: string }) => x.id === idle.body.id));
    assert.equal((await nodes[2]!.api("PATCH", `/v1/streams/${idle.body.id}`, { record: true }, secret)).body.record, true);
    assert.equal((await nodes[1]!.api("GET", `/v1/streams/${idle.body.id}`, undefined, secret)).body.record, true, "the change read on another node");
    assert.equal((await nodes[1]!.api("DELETE", `/v1/streams/${idle.body.id}`, undefined, secret)).status, 204);
    await waitFor("deleted on every node", async () => (await Promise.all(nodes.map((n) => n.api("GET", `/v1/streams/${idle.body.id}`, undefined, secret)))).every((r) => r.status === 404), 2000, 100);

    let pub: FfmpegProcess = pushTestPattern(`${lbRtmp}/${streamKey}`, { size: "320x180", fps: 30 });
    const extra: FfmpegProcess[] = [];
    try {
      // --- HLS through the load balancer, whichever node answers.
      const multivariant = await waitFor("the multivariant playlist through the LB", async () => {
        const r = await get(`${hls}/index.m3u8`);
        return r.status === 200 ? r.text : undefined;
      }, 30_000, 200);
      const rendition = multivariant.split("\n").find((l) => l.endsWith("/index.m3u8"))!;
      assert.ok(rendition, multivariant);
      const renditionUrl = `${hls}/${rendition}`;
      const entries = new Set<string | null>();
      let lastMsn = -1;
      for (let i = 0; i < 6; i++) {
        const p = await get(renditionUrl);
        assert.equal(p.status, 200, p.text);
        entries.add(entryNode(p));
        const segs = p.text.split("\n").filter((l) => /^\d+\.ts$/.test(l));
        assert.ok(segs.length > 0, p.text);
        const seg = await fetch(`${hls}/${rendition.replace(/index\.m3u8$/, "")}${segs.at(-1)}`);
        assert.equal(seg.status, 200);
        const bytes = Buffer.from(await seg.arrayBuffer());
        assert.equal(bytes[0], 0x47, "an MPEG-TS segment");
        entries.add(seg.headers.get("x-wharf-via") ?? seg.headers.get("x-wharf-node"));
        lastMsn = Math.max(lastMsn, mediaSequence(p.text) + segs.length - 1);
        await sleep(300);
      }
      assert.ok(entries.size >= 2, `requests spread over the nodes: ${[...entries].join(", ")}`);

      // --- GET /v1/cluster: three nodes, the stream on its owner.
      const c = await api("GET", "/v1/cluster");
      assert.equal(c.status, 200, JSON.stringify(c.body));
      assert.equal(c.body.nodes.length, 3, JSON.stringify(c.body));
      const ownerView = (c.body.nodes as Array<{ id: string; address: string; streams: string[]; load: { liveStreams: number; rssBytes: number } }>).filter((n) => n.streams.includes(id));
      assert.equal(ownerView.length, 1, JSON.stringify(c.body));
      assert.equal(ownerView[0]!.load.liveStreams, 1);
      assert.ok(ownerView[0]!.load.rssBytes > 0);
      const owner = nodes.find((n) => ownerView[0]!.address.endsWith(`:${n.httpPort}`))!;
      assert.ok(owner, `owner ${ownerView[0]!.address} is one of the nodes`);
      const others = nodes.filter((n) => n !== owner);
      assert.equal((await owner.api("GET", "/v1/cluster", undefined, "nope")).status, 401, "admin only");

      // --- A second publisher on another node is refused (the lease), and the stream goes on.
      const second = pushTestPattern(`${others[0]!.rtmp}/${streamKey}`, { size: "320x180" });
      extra.push(second);
      const exit = await Promise.race([second.exited, sleep(15_000).then(() => undefined)]);
      assert.ok(exit, "the second publisher was cut off");
      const refusal = await others[0]!.api("GET", "/metrics");
      assert.match(String(refusal.body), /wharf_ingest_rejected_total\{[^}]*status="409"[^}]*\} [1-9]/, "refused with 409 on the other node");
      assert.equal((await get(renditionUrl)).status, 200);

      // --- LL-HLS through a node that does not own the stream: a blocking reload for the next
      // segment, and its first part, held by the owner until they exist.
      const direct = `${others[0]!.http}/v1/streams/${id}/hls/${rendition}`;
      const now = await get(direct);
      const next = mediaSequence(now.text) + now.text.split("\n").filter((l) => /^\d+\.ts$/.test(l)).length;
      const [blocked, part] = await Promise.all([get(`${direct}?_HLS_msn=${next + 1}`), fetch(direct.replace(/index\.m3u8$/, `${next + 1}.0.ts`))]);
      assert.equal(blocked.status, 200, blocked.text);
      assert.match(blocked.text, new RegExp(`(URI="${next + 1}\\.\\d+\\.ts"|\\n${next + 1}\\.ts\\n)`), blocked.text);
      assert.ok(blocked.headers.get("x-wharf-via"), "proxied");
      assert.equal(part.status, 200);
      assert.equal(Buffer.from(await part.arrayBuffer())[0], 0x47, "an MPEG-TS part");

      // --- A request already proxied once is answered where it lands (no loops): here, not live.
      assert.equal((await get(direct)).status, 200, "proxied to the owner");
      const marked = await get(direct, { "x-wharf-proxied-by": "node_test" });
      assert.equal(marked.status, 404, marked.text);
      assert.equal(marked.headers.get("x-wharf-node"), entryNode(await get(`${others[0]!.http}/readyz`)));

      // --- WHEP through the load balancer (the offer proxied to the owner; media over loopback UDP).
      const player = await playWhep(`${lb}/v1/streams/${id}/whep`, { audio: false });
      try {
        assert.equal(player.status, 201, JSON.stringify(player.error));
        await waitFor("WHEP video through the LB", () => player.video.keyframes > 0 && player.video.packets > 30, 15_000);
      } finally {
        assert.equal(await player.stop(), 200, "DELETE of the WHEP session through the LB reaches its node");
      }

      // --- Status and thumbnail of the stream through any node.
      for (const n of others) {
        const v = await n.api("GET", `/v1/streams/${id}`, undefined, secret);
        assert.equal(v.status, 200);
        assert.equal(v.body.state, "live", JSON.stringify(v.body));
        const thumb = await fetch(`${n.http}/v1/streams/${id}/thumbnail.jpg`);
        assert.equal(thumb.status, 200);
        assert.equal(thumb.headers.get("content-type"), "image/jpeg");
        await thumb.arrayBuffer();
      }
      // A change the owner must apply (its cached record, its multistream) goes to the owner, body and all.
      const patched = await fetch(`${others[1]!.http}/v1/streams/${id}`, { method: "PATCH", headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" }, body: JSON.stringify({ multistream: [] }) });
      const patchedView = (await patched.json()) as { state: string; multistream: unknown[] };
      assert.equal(patched.status, 200, JSON.stringify(patchedView));
      assert.equal(patched.headers.get("x-wharf-via"), entryNode(await get(`${others[1]!.http}/readyz`)), "proxied");
      assert.equal(patched.headers.get("x-wharf-node"), ownerView[0]!.id, "answered by the owner");
      assert.equal(patchedView.state, "live", "the owner's view (live there)");
      assert.deepEqual(patchedView.multistream, []);
      for (const n of others) {
        const list = await n.api("GET", "/v1/streams", undefined, secret);
        const row = (list.body.streams as Array<{ id: string; state: string; node?: string }>).find((x) => x.id === id);
        assert.deepEqual([row?.state, row?.node], ["live", ownerView[0]!.id], "the list says where the stream is live");
      }

      // --- Batch AI through the load balancer; the results download from any node.
      const answered: string[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${lb}/text-to-image`, { method: "POST", headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" }, body: JSON.stringify({ prompt: `p${i}`, width: 64, height: 64 }) });
        const body = (await res.json()) as { images?: Array<{ url: string }> };
        if (res.status !== 200) continue;
        answered.push(res.headers.get("x-request-id")!);
        const path = new URL(body.images![0]!.url).pathname;
        for (let j = 0; j < 3; j++) assert.equal((await fetch(lb + path)).status, 200, `result ${path} through the LB`);
      }
      assert.ok(answered.length >= 5, `batch AI answered ${answered.length} of 6`);

      // --- SIGKILL of the owner: the publisher reconnects through the LB, the same URL goes on elsewhere.
      // Where the owner's timeline stands just before it dies (its last listed segment).
      const before = await get(`${owner.http}/v1/streams/${id}/hls/${rendition}`);
      assert.equal(before.status, 200);
      lastMsn = mediaSequence(before.text) + before.text.split("\n").filter((l) => /^\d+\.ts$/.test(l)).length - 1;
      owner.proc.kill("SIGKILL");
      const killedAt = Date.now();
      await pub.stop(200);
      nodes = nodes.filter((n) => n !== owner);
      // Its lease lives on a few seconds: the other nodes say the owner does not answer.
      const unreachable = await get(direct);
      assert.equal(unreachable.status, 503, unreachable.text);
      assert.equal(JSON.parse(unreachable.text).error, "Service Unavailable");
      assert.match(JSON.parse(unreachable.text).message, /did not answer/);
      // The publisher reconnects through the LB (ffmpeg is restarted whenever it was refused: the
      // dead owner's lease lives a few seconds) until the same HLS URL goes on from another node.
      let attempts = 0;
      const resumed = await waitFor("the same HLS URL going on from another node", async () => {
        if (!pub.running) {
          attempts++;
          pub = pushTestPattern(`${lbRtmp}/${streamKey}`, { size: "320x180" });
        }
        const r = await get(renditionUrl);
        if (r.status !== 200 || !r.text.includes("#EXT-X-DISCONTINUITY\n")) return undefined;
        return r;
      }, 40_000, 300);
      assert.ok(attempts >= 1);
      const takeoverMs = Date.now() - killedAt;
      // Continued, not restarted: after the last segment the owner listed, the one it may have been
      // writing, and the one number skipped after a death.
      const first = mediaSequence(resumed.text);
      assert.ok(first > lastMsn && first <= lastMsn + 4, `media sequence continues after ${lastMsn}:\n${resumed.text}`);
      const newSegs = resumed.text.split("\n").filter((l) => /^\d+\.ts$/.test(l)).map((l) => Number(l.slice(0, -3)));
      assert.ok(newSegs.every((n) => n > lastMsn), `sequence numbers continue after ${lastMsn}: ${newSegs.join(",")}`);
      const seg = await fetch(`${hls}/${rendition.replace(/index\.m3u8$/, "")}${newSegs.at(-1)}.ts`);
      assert.equal(seg.status, 200);
      await seg.arrayBuffer();
      // The dead node's heartbeat lives 6 s after its last beat; the others' say what is live on them every 2 s.
      await waitFor("the dead node gone from GET /v1/cluster and the stream on its new owner", async () => {
        const r = await api("GET", "/v1/cluster");
        const nodesNow = (r.body?.nodes ?? []) as Array<{ streams: string[] }>;
        return r.status === 200 && nodesNow.length === 2 && nodesNow.filter((n) => n.streams.includes(id)).length === 1;
      }, 10_000, 250);
      console.log(`# takeover: HLS going on from another node ${takeoverMs} ms after the SIGKILL`);

      // --- Every answered batch request has exactly one usage record.
      const usage = await api("GET", "/v1/usage?limit=1000");
      assert.equal(usage.status, 200, JSON.stringify(usage.body));
      const records = usage.body.records as Array<{ requestId?: string }>;
      for (const rid of answered) assert.equal(records.filter((r) => r.requestId === rid).length, 1, `one usage record for ${rid}`);
    } finally {
      await Promise.all([pub.stop(500), ...extra.map((p) => p.stop(200))]);
    }
  });
});
