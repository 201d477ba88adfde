// End-to-end tests of the development orchestrator over real sockets:
// GetOrchestrator over TLS and plaintext, /segment with real ffmpeg
// transcoding, auth failures, capacity, knobs, and the CLI as a separate process.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { ffprobe, runFfmpeg } from "../core/ffmpeg.ts";
import { Capability, hasCapability, capabilityCapacity, modelConstraint } from "../protocol/capabilities.ts";
import { closeGrpcClients, endTranscodingSession, getOrchestrator } from "../protocol/grpc-client.ts";
import { closeOrchestratorDispatchers, orchestratorDispatcher } from "../protocol/http-agent.ts";
import { decodeMessage, encodeBase64, type AuthToken, type SegData, type VideoProfile } from "../protocol/messages.ts";
import { PRESETS } from "../protocol/profiles.ts";
import { keccak256, PAYMENT_HEADER, SEGMENT_HEADER } from "../protocol/segment-header.ts";
import { TranscodeError, transcodeSegment } from "../protocol/transcode-client.ts";
import type { OrchestratorFeature } from "./feature.ts";
import { parseCli, UsageError } from "./main.ts";
import { startOrchestrator, type RunningOrchestrator } from "./orchestrator.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const P144 = PRESETS.P144p30fps16x9!;
const P240 = PRESETS.P240p30fps16x9!;

/** A 2 s MPEG-TS: testsrc2 320x240 + sine, libx264 ultrafast, 1 s GOP, timestamps starting at 10 s. */
async function makeSegment(): Promise<Buffer> {
  return runFfmpeg(
    [
      "-hide_banner", "-loglevel", "error",
      "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
      "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
      "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac",
      "-output_ts_offset", "10", "-f", "mpegts", "pipe:1",
    ],
    { timeoutMs: 20_000 },
  );
}

const fakeAi: OrchestratorFeature = {
  name: "fake-ai",
  capabilities: () => [
    {
      capability: Capability.TextToImage,
      capacity: 2,
      models: { "stabilityai/sd-turbo": { warm: true, capacity: 2, capacityInUse: 1, price: { pricePerUnit: 5, pixelsPerUnit: 1 } } },
    },
  ],
  register: async (app, ctx) => {
    app.post("/text-to-image", async (req, reply) => {
      const seg = await ctx.requireCredentials(req, reply);
      if (!seg) return reply;
      return { images: [] };
    });
  },
};

let segment: Buffer;
before(async () => {
  segment = await makeSegment();
});
after(async () => {
  await closeGrpcClients();
  await closeOrchestratorDispatchers();
});

async function sendRaw(orch: RunningOrchestrator, seg: SegData, body: Buffer) {
  const res = await request(`${orch.serviceUrl}/segment`, {
    method: "POST",
    headers: { [SEGMENT_HEADER]: encodeBase64("SegData", seg), [PAYMENT_HEADER]: "", "content-type": "video/MP2T" },
    body,
    dispatcher: orchestratorDispatcher(),
  });
  const buf = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, buf };
}

describe("dev orchestrator over TLS", () => {
  let orch: RunningOrchestrator;
  before(async () => {
    orch = await startOrchestrator({
      port: 0,
      pricePerUnit: 1200,
      pixelsPerUnit: 1,
      capacity: 3,
      x264Preset: "ultrafast",
      features: [fakeAi],
      capabilityPrices: [{ capability: Capability.TextToImage, pricePerUnit: 9, pixelsPerUnit: 2 }],
    });
  });
  after(async () => {
    await orch.stop();
  });

  test("GetOrchestrator returns a full OrchestratorInfo", async () => {
    assert.match(orch.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const info = await getOrchestrator(orch.url);
    assert.equal(info.transcoder, orch.serviceUrl);
    assert.deepEqual(info.priceInfo, { pricePerUnit: 1200, pixelsPerUnit: 1, capability: 0, constraint: "" });
    const caps = info.capabilities!;
    for (const c of [Capability.H264, Capability.MPEGTS, Capability.AuthToken, Capability.TextToImage]) assert.ok(hasCapability(caps.bitstring, c), `cap ${c}`);
    assert.ok(!hasCapability(caps.bitstring, Capability.LiveVideoToVideo));
    assert.equal(capabilityCapacity(caps, Capability.H264), 3);
    assert.equal(capabilityCapacity(caps, Capability.TextToImage), 2);
    assert.deepEqual(modelConstraint(caps, Capability.TextToImage, "stabilityai/sd-turbo"), { warm: true, capacity: 2, capacityInUse: 1, runnerVersion: "" });
    const prices = info.capabilitiesPrices!;
    assert.deepEqual(
      prices.map((p) => [p.capability, p.constraint, p.pricePerUnit, p.pixelsPerUnit]).sort(),
      [[Capability.TextToImage, "", 9, 2], [Capability.TextToImage, "stabilityai/sd-turbo", 5, 1]].sort(),
    );
    const tok = info.authToken!;
    assert.equal(tok.token!.length, 32);
    assert.ok(tok.sessionId);
    const ttl = tok.expiration! - Date.now() / 1000;
    assert.ok(ttl > 29 * 60 && ttl <= 30 * 60 + 1, `ttl ${ttl}`);
  });

  test("POST /segment: early 200, TranscodeResult, renditions at the right size and aligned timestamps", async () => {
    const info = await getOrchestrator(orch.url);
    // Observe the early 200 on the raw response: headers arrive before the body (transcoding time).
    const seg: SegData = {
      manifestId: Buffer.from("early"),
      seq: 3,
      hash: keccak256(segment),
      duration: 2000,
      authToken: info.authToken,
      fullProfiles: [P144, P240],
    };
    const t0 = performance.now();
    const res = await request(`${orch.serviceUrl}/segment`, {
      method: "POST",
      headers: { [SEGMENT_HEADER]: encodeBase64("SegData", seg), [PAYMENT_HEADER]: "", "content-type": "video/MP2T" },
      body: segment,
      dispatcher: orchestratorDispatcher(),
    });
    const headersAt = performance.now() - t0;
    assert.equal(res.statusCode, 200);
    const body = Buffer.from(await res.body.arrayBuffer());
    const bodyAt = performance.now() - t0;
    assert.ok(bodyAt - headersAt > 50, `headers at ${headersAt.toFixed(0)} ms, body at ${bodyAt.toFixed(0)} ms: 200 was not early`);
    const raw = decodeMessage("TranscodeResult", body);
    assert.equal(raw.seq, 3);
    assert.equal(raw.data?.segments?.length, 2);

    // The gateway client: same thing, typed, with downloads.
    const result = await transcodeSegment({
      transcoder: info.transcoder!,
      authToken: info.authToken!,
      manifestId: "stream-1",
      seq: 7,
      data: segment,
      durationMs: 2000,
      profiles: [P144, P240],
    });
    assert.equal(result.seq, 7);
    assert.equal(result.renditions.length, 2);
    assert.ok(result.timings.acceptedMs < result.timings.transcodedMs, JSON.stringify(result.timings));
    const src = await ffprobe(segment);
    const srcStart = Number((src.format as { start_time?: string }).start_time);
    const expected = [
      [256, 144],
      [426, 240],
    ];
    for (const [i, r] of result.renditions.entries()) {
      assert.ok(r.url.startsWith(`${orch.serviceUrl}/stream/`), r.url);
      assert.ok(r.pixels > 0, `pixels ${r.pixels}`);
      const probe = await ffprobe(r.data!);
      const v = probe.streams.find((s) => s.codec_type === "video")!;
      assert.deepEqual([v.width, v.height], expected[i]);
      assert.equal(v.codec_name, "h264");
      assert.ok(probe.streams.some((s) => s.codec_type === "audio"), "audio kept");
      const start = Number((probe.format as { start_time?: string }).start_time);
      assert.ok(Math.abs(start - srcStart) < 0.1, `rendition starts at ${start}, source at ${srcStart}`);
    }
  });

  test("profiles are accepted from fullProfiles (33), fullProfiles2 (34) and fullProfiles3 (35)", async () => {
    const info = await getOrchestrator(orch.url);
    const p35: VideoProfile = { ...P144, gop: 1000, profile: 2 };
    for (const field of ["fullProfiles", "fullProfiles2", "fullProfiles3"] as const) {
      const seg: SegData = { manifestId: Buffer.from("fields"), seq: 1, duration: 2000, authToken: info.authToken, [field]: [field === "fullProfiles3" ? p35 : P144] };
      const { status, buf } = await sendRaw(orch, seg, segment);
      assert.equal(status, 200, field);
      const r = decodeMessage("TranscodeResult", buf);
      assert.equal(r.error, undefined, `${field}: ${r.error}`);
      assert.equal(r.data?.segments?.length, 1, field);
      const dl = await request(r.data!.segments![0]!.url!, { dispatcher: orchestratorDispatcher() });
      const probe = await ffprobe(Buffer.from(await dl.body.arrayBuffer()));
      const v = probe.streams.find((s) => s.codec_type === "video")!;
      assert.deepEqual([v.width, v.height], [256, 144], field);
      if (field === "fullProfiles3") assert.equal(v.profile, "Main");
    }
  });

  test("bad, unknown and missing auth tokens -> 403; wrong hash -> 400", async () => {
    const bogus: AuthToken = { token: Buffer.alloc(32, 7), sessionId: "nope", expiration: Math.floor(Date.now() / 1000) + 600 };
    await assert.rejects(
      transcodeSegment({ transcoder: orch.serviceUrl, authToken: bogus, manifestId: "x", seq: 1, data: segment, durationMs: 2000, profiles: [P144] }),
      (err: unknown) => err instanceof TranscodeError && err.kind === "auth" && err.status === 403,
    );
    const noHeader = await request(`${orch.serviceUrl}/segment`, { method: "POST", body: segment, dispatcher: orchestratorDispatcher() });
    assert.equal(noHeader.statusCode, 403);
    assert.equal(((await noHeader.body.json()) as { error: string }).error, "missing_credentials");
    const garbage = await request(`${orch.serviceUrl}/segment`, { method: "POST", body: segment, headers: { [SEGMENT_HEADER]: "%%%not base64" }, dispatcher: orchestratorDispatcher() });
    assert.equal(garbage.statusCode, 403);
    await garbage.body.dump();
    const info = await getOrchestrator(orch.url);
    const { status } = await sendRaw(orch, { manifestId: Buffer.from("h"), seq: 1, hash: Buffer.alloc(32), authToken: info.authToken, fullProfiles: [P144] }, segment);
    assert.equal(status, 400);
  });

  test("features get credential checks; /payment answers a PaymentResult", async () => {
    const info = await getOrchestrator(orch.url);
    const ok = await request(`${orch.serviceUrl}/text-to-image`, {
      method: "POST",
      headers: { [SEGMENT_HEADER]: encodeBase64("SegData", { authToken: info.authToken }), "content-type": "application/json" },
      body: "{}",
      dispatcher: orchestratorDispatcher(),
    });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
    const denied = await request(`${orch.serviceUrl}/text-to-image`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}", dispatcher: orchestratorDispatcher() });
    assert.equal(denied.statusCode, 403);
    await denied.body.dump();
    const pay = await request(`${orch.serviceUrl}/payment`, {
      method: "POST",
      headers: { [SEGMENT_HEADER]: encodeBase64("SegData", { authToken: info.authToken }), [PAYMENT_HEADER]: "" },
      dispatcher: orchestratorDispatcher(),
    });
    assert.equal(pay.statusCode, 200);
    const pr = decodeMessage("PaymentResult", Buffer.from(await pay.body.arrayBuffer()));
    assert.equal(pr.info?.transcoder, orch.serviceUrl);
  });
});

describe("dev orchestrator knobs (plaintext)", () => {
  let orch: RunningOrchestrator;
  before(async () => {
    orch = await startOrchestrator({ port: 0, http: true, capacity: 1, x264Preset: "ultrafast", tokenTtlMs: 60_000 });
  });
  after(async () => {
    await orch.stop();
  });

  test("GetOrchestrator over h2c", async () => {
    assert.match(orch.url, /^http:\/\//);
    const info = await getOrchestrator(orch.url);
    assert.equal(info.transcoder, orch.url);
  });

  test("over capacity -> OrchestratorBusy (busy, not a fault)", async () => {
    const info = await getOrchestrator(orch.url);
    const base = { transcoder: info.transcoder!, authToken: info.authToken!, data: segment, durationMs: 2000, profiles: [P144], download: false };
    await transcodeSegment({ ...base, manifestId: "first", seq: 0 });
    await assert.rejects(transcodeSegment({ ...base, manifestId: "second", seq: 0 }), (err: unknown) => {
      assert.ok(err instanceof TranscodeError);
      assert.equal(err.kind, "busy");
      assert.equal(err.isFault, false);
      return true;
    });
    // The existing session keeps being served.
    const again = await transcodeSegment({ ...base, manifestId: "first", seq: 1 });
    assert.equal(again.renditions.length, 1);
    assert.equal(orch.stats().busy, 1);
    // EndTranscodingSession frees the session: the other stream now fits.
    await endTranscodingSession(orch.url, info.authToken!);
    const freed = await transcodeSegment({ ...base, manifestId: "second", seq: 0 });
    assert.equal(freed.renditions.length, 1);
  });

  test("fail-rate 1 -> every segment fails; latency is added", async () => {
    const info = await getOrchestrator(orch.url);
    orch.configure({ failRate: 1, latencyMs: 300 });
    try {
      const t0 = performance.now();
      await assert.rejects(
        transcodeSegment({ transcoder: info.transcoder!, authToken: info.authToken!, manifestId: "first", seq: 2, data: segment, durationMs: 2000, profiles: [P144] }),
        (err: unknown) => err instanceof TranscodeError && err.kind === "transcode-failed" && err.isFault,
      );
      assert.ok(performance.now() - t0 >= 290);
    } finally {
      orch.configure({ failRate: 0, latencyMs: 0 });
    }
  });

  test("expired auth token -> 403", async () => {
    // Its own orchestrator with a short token life: the other tests here take seconds on a loaded machine.
    const short = await startOrchestrator({ port: 0, http: true, capacity: 1, x264Preset: "ultrafast", tokenTtlMs: 300 });
    try {
      const info = await getOrchestrator(short.url);
      await new Promise((r) => setTimeout(r, 400));
      await assert.rejects(
        transcodeSegment({ transcoder: info.transcoder!, authToken: info.authToken!, manifestId: "first", seq: 3, data: segment, durationMs: 2000, profiles: [P144] }),
        (err: unknown) => err instanceof TranscodeError && err.kind === "auth" && /Expired/.test(err.message),
      );
    } finally {
      await short.stop();
    }
  });
});

test("CLI: separate process, GetOrchestrator, --exit-after-segments, SIGTERM", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", "orchestrator/main.ts", "--port", "0", "--http", "--exit-after-segments", "1", "--x264-preset", "ultrafast", "--price-per-unit", "77"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WHARF_LOG_LEVEL: "warn" },
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! });
      const timer = setTimeout(() => reject(new Error("orchestrator did not start in 15 s")), 15_000);
      rl.on("line", (l) => {
        if (l.startsWith('{"listening"')) {
          clearTimeout(timer);
          resolve(l);
        }
      });
      child.once("exit", () => reject(new Error("orchestrator exited early")));
    });
    const { listening } = JSON.parse(line) as { listening: string };
    const info = await getOrchestrator(listening);
    assert.equal(info.priceInfo?.pricePerUnit, 77);
    await transcodeSegment({ transcoder: info.transcoder!, authToken: info.authToken!, manifestId: "m", seq: 0, data: segment, durationMs: 2000, profiles: [P144], download: false });
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("still running"), 5000))]);
    assert.equal(code, 3, "exits with code 3 after --exit-after-segments");
  } finally {
    child.kill("SIGKILL");
  }
});

test("CLI: SIGTERM stops gracefully (exit 0); --help; bad flag -> exit 2", async () => {
  const run = (args: string[]) =>
    spawn(process.execPath, ["--import", "tsx", "orchestrator/main.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WHARF_LOG_LEVEL: "warn" } });
  const collect = (c: ReturnType<typeof run>) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      let out = "";
      let err = "";
      c.stdout!.on("data", (d) => (out += d));
      c.stderr!.on("data", (d) => (err += d));
      c.once("exit", (code, signal) => resolve({ code, out, err: err + (signal ? ` [signal ${signal}]` : "") }));
    });
  const bad = await collect(run(["--fail-rate", "2"]));
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--fail-rate/);
  const help = await collect(run(["--help"]));
  assert.equal(help.code, 0, help.err);
  assert.match(help.out, /--exit-after-segments/);
  const c = run(["--port", "0"]);
  const done = collect(c);
  await new Promise<void>((resolve) => c.stdout!.on("data", (d: Buffer) => d.toString().includes("listening") && resolve()));
  c.kill("SIGTERM");
  const r = await done;
  assert.equal(r.code, 0, r.err + " OUT: " + r.out);
});

test("CLI flags parse and validate", () => {
  const o = parseCli(["--port", "0", "--http", "--capacity", "2", "--ai-price", "text-to-image:sdxl=10/2", "--ai-price", "35=5", "--fail-rate", "0.25"])!;
  assert.equal(o.port, 0);
  assert.equal(o.http, true);
  assert.equal(o.capacity, 2);
  assert.equal(o.failRate, 0.25);
  assert.deepEqual(o.capabilityPrices, [
    { capability: Capability.TextToImage, modelId: "sdxl", pricePerUnit: 10, pixelsPerUnit: 2 },
    { capability: Capability.LiveVideoToVideo, modelId: undefined, pricePerUnit: 5, pixelsPerUnit: 1 },
  ]);
  assert.equal(parseCli(["--help"]), undefined);
  assert.throws(() => parseCli(["--port", "x"]), UsageError);
  assert.throws(() => parseCli(["--ai-price", "nope=1"]), /unknown pipeline/);
  assert.throws(() => parseCli(["--bogus"]), UsageError);
});
