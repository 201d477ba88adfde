import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import Fastify from "fastify";
import { buildBitstring, Capability, DEFAULT_TRANSCODE_JOB, TRANSCODING_CAPABILITIES } from "../../protocol/capabilities.ts";
import { closeGrpcClients } from "../../protocol/grpc-client.ts";
import { TranscodeError } from "../../protocol/transcode-client.ts";
import type { OrchestratorInfo } from "../../protocol/messages.ts";
import { startOrchestratorProcess } from "../../test/support/orchestrator.ts";
import { parseOrchAddr, parseWebhookBody } from "./discovery.ts";
import { priceFor, withinCap } from "./prices.ts";
import { parsePriceCaps } from "./price-caps.ts";
import { OrchestratorRegistry, SUSPENSION_MAX_MS, type RegistryOptions } from "./registry.ts";
import { registerOrchestratorRoutes } from "./routes.ts";
import { SUSPENDED_PROBE_INTERVAL_MS } from "./selection.ts";

function info(addr: string, o: { price?: number; pixels?: number; ai?: Record<string, boolean>; aiPrice?: number; expSec?: number } = {}): OrchestratorInfo {
  const caps: number[] = [...TRANSCODING_CAPABILITIES];
  if (o.ai) caps.push(Capability.TextToImage);
  return {
    transcoder: addr.replace("https://", "https://svc-"),
    priceInfo: { pricePerUnit: o.price ?? 0, pixelsPerUnit: o.pixels ?? 1 },
    capabilities: {
      bitstring: buildBitstring(caps),
      capacities: { [Capability.H264]: 10 },
      constraints: o.ai
        ? { PerCapability: { [Capability.TextToImage]: { models: Object.fromEntries(Object.entries(o.ai).map(([m, warm]) => [m, { warm, capacity: 1 }])) } } }
        : undefined,
    },
    capabilitiesPrices: o.aiPrice !== undefined ? [{ capability: Capability.TextToImage, constraint: "", pricePerUnit: o.aiPrice, pixelsPerUnit: 1 }] : [],
    authToken: { token: Buffer.from("t"), sessionId: "s", expiration: o.expSec ?? Math.floor(Date.now() / 1000) + 1800 },
  };
}

/** A registry over fake infos with a manual clock. */
async function fakeRegistry(infos: Record<string, OrchestratorInfo | Error>, extra: Partial<RegistryOptions> = {}) {
  const clock = { t: Date.now() };
  const calls: string[] = [];
  const reg = new OrchestratorRegistry({
    orchAddr: Object.keys(infos).join(","),
    now: () => clock.t,
    random: () => 0.5,
    // The process's event-loop delay includes earlier tests' (orchestrators started in this
    // process's loop): the fake registries judge faults as if the gateway were never overloaded.
    localLoad: { overloaded: () => false },
    fetchInfo: async (a) => {
      calls.push(a);
      const i = infos[a];
      if (!i || i instanceof Error) throw i ?? new Error("unknown");
      return i;
    },
    ...extra,
  });
  await reg.refreshDue();
  return { reg, clock, calls };
}

const A = "https://10.0.0.1:8935";
const B = "https://10.0.0.2:8935";
const C = "https://10.0.0.3:8935";
const H264 = { capability: Capability.H264, capabilities: DEFAULT_TRANSCODE_JOB };

test("discovery: orchAddr and webhook bodies are normalized and validated", () => {
  assert.deepEqual(
    parseOrchAddr("https://127.0.0.1:8936, http://localhost:9, 10.1.1.1").map((c) => c.address),
    ["https://127.0.0.1:8936", "http://localhost:9", "https://10.1.1.1:8935"],
  );
  assert.throws(() => parseOrchAddr("ftp://x:1"), /invalid orchestrator address/);
  const wh = parseWebhookBody([{ address: "https://1.2.3.4:1", score: 0.5 }, { address: "https://1.2.3.5:1", region: "eu" }]);
  assert.deepEqual(wh.map((c) => [c.address, c.score, c.region]), [["https://1.2.3.4:1", 0.5, undefined], ["https://1.2.3.5:1", 1, "eu"]]);
  assert.throws(() => parseWebhookBody({ address: "x" }), /array/);
  assert.throws(() => parseWebhookBody([{ score: 1 }]), /no address/);
});

test("prices: lookup per capability/model, exact cap comparison, maxPricePerCapability", () => {
  const i = info(A, { price: 1200, pixels: 1, ai: { m: true }, aiPrice: 7 });
  i.capabilitiesPrices!.push({ capability: Capability.TextToImage, constraint: "m", pricePerUnit: 3, pixelsPerUnit: 1 });
  assert.deepEqual(priceFor(i, Capability.H264), { pricePerUnit: 1200, pixelsPerUnit: 1 });
  assert.deepEqual(priceFor(i, Capability.TextToImage, "m"), { pricePerUnit: 3, pixelsPerUnit: 1 });
  assert.deepEqual(priceFor(i, Capability.TextToImage, "other"), { pricePerUnit: 7, pixelsPerUnit: 1 });
  assert.ok(withinCap({ pricePerUnit: 10, pixelsPerUnit: 3 }, { pricePerUnit: 4, pixelsPerUnit: 1 })); // 3.33 <= 4
  assert.ok(!withinCap({ pricePerUnit: 13, pixelsPerUnit: 3 }, { pricePerUnit: 4, pixelsPerUnit: 1 })); // 4.33 > 4
  const caps = parsePriceCaps(JSON.parse('{"capabilities_prices":[{"pipeline":"text-to-image","model_id":"default","price_per_unit":5,"pixels_per_unit":1},{"pipeline":"text-to-image","model_id":"m","price_per_unit":2}]}'));
  assert.deepEqual(caps.capFor("text-to-image", "m"), { pricePerUnit: 2, pixelsPerUnit: 1 });
  assert.deepEqual(caps.capFor("text-to-image", "x"), { pricePerUnit: 5, pixelsPerUnit: 1 });
  assert.equal(caps.capFor("llm", ""), undefined);
  assert.deepEqual(parsePriceCaps(undefined, { maxPricePerUnit: 9, pixelsPerUnit: 1 }).capFor("live-video-to-video", "noop"), { pricePerUnit: 9, pixelsPerUnit: 1 });
  assert.throws(() => parsePriceCaps(JSON.parse('{"capabilities_prices":[{"pipeline":"nope","price_per_unit":1}]}')), /unknown pipeline/);
});

test("selection: price cap filters, ignoreMaxPriceIfNeeded relaxes it", async () => {
  const { reg } = await fakeRegistry({ [A]: info(A, { price: 100 }), [B]: info(B, { price: 2000 }), [C]: info(C, { price: 500, pixels: 2 }) });
  const picked = reg.select({ ...H264, maxPricePerUnit: { pricePerUnit: 300, pixelsPerUnit: 1 }, count: 3 }).map((s) => s.address);
  assert.deepEqual(new Set(picked), new Set([A, C])); // C: 250/unit
  assert.deepEqual(reg.select({ ...H264, maxPricePerUnit: { pricePerUnit: 1, pixelsPerUnit: 1 } }), []);
  assert.equal(reg.select({ ...H264, maxPricePerUnit: { pricePerUnit: 1, pixelsPerUnit: 1 }, ignoreMaxPriceIfNeeded: true }).length, 1);
  const sel = reg.select({ ...H264, exclude: new Set([A, C]) });
  assert.equal(sel[0]!.address, B);
  assert.equal(sel[0]!.transcoder, "https://svc-10.0.0.2:8935");
  assert.equal(sel[0]!.price?.pricePerUnit, 2000);
});

test("selection: deny and allow lists", async () => {
  const infos = { [A]: info(A), [B]: info(B), [C]: info(C) };
  const { reg: denied } = await fakeRegistry(infos, { deny: ["10.0.0.1:8935"] });
  assert.ok(!denied.select({ ...H264, count: 3 }).some((s) => s.address === A));
  assert.equal(denied.select({ ...H264, count: 3 }).length, 2);
  const { reg: allowed } = await fakeRegistry(infos, { allow: [B] });
  assert.deepEqual(allowed.select({ ...H264, count: 3 }).map((s) => s.address), [B]);
  assert.equal(allowed.explain(H264)[A], "not-allowed");
});

test("selection: preferred region first, others as fallback; warm models before cold", async () => {
  const { reg } = await fakeRegistry(
    { [A]: info(A, { ai: { m: false } }), [B]: info(B, { ai: { m: true } }), [C]: info(C) },
    { regions: { [A]: "eu", [B]: "us", [C]: "eu" }, region: "eu" },
  );
  for (let i = 0; i < 5; i++) {
    assert.equal(reg.select(H264)[0]!.region, "eu");
  }
  assert.deepEqual(reg.select({ ...H264, count: 3 }).map((s) => s.region), ["eu", "eu", "us"]);
  // Model m: B is warm (us), A cold (eu): warm wins over region; C lacks the capability.
  assert.deepEqual(reg.select({ capability: Capability.TextToImage, modelId: "m", count: 3 }).map((s) => s.address), [B, A]);
  assert.deepEqual(reg.select({ capability: Capability.TextToImage, modelId: "m", warmOnly: true, count: 3 }).map((s) => s.address), [B]);
  assert.deepEqual(reg.select({ capability: Capability.TextToImage, modelId: "zzz" }), []);
});

test("selection follows a refreshed OrchestratorInfo: models, warmth and price (fits are remembered per info)", async () => {
  const exp = Math.floor(Date.now() / 1000) + 30 * 86400;
  const infos: Record<string, OrchestratorInfo> = { [A]: info(A, { ai: { m: false }, aiPrice: 10, expSec: exp }), [B]: info(B, { ai: { m: true }, aiPrice: 10, expSec: exp }) };
  const { reg, clock } = await fakeRegistry(infos);
  const t2i = { capability: Capability.TextToImage, modelId: "m", count: 2 };
  const cap = { pricePerUnit: 100, pixelsPerUnit: 1 };
  assert.deepEqual(reg.select(t2i).map((s) => s.address), [B, A]);
  assert.equal(reg.select({ ...t2i, maxPricePerUnit: cap }).length, 2);
  // A warms the model up and raises its price; B drops the model.
  infos[A] = info(A, { ai: { m: true }, aiPrice: 500, expSec: exp });
  infos[B] = info(B, { ai: { other: true }, aiPrice: 10, expSec: exp });
  clock.t += 3600_000;
  await reg.refreshDue();
  assert.deepEqual(reg.select(t2i).map((s) => s.address), [A]);
  assert.deepEqual(reg.select({ ...t2i, warmOnly: true }).map((s) => s.address), [A]);
  assert.deepEqual(reg.select({ ...t2i, maxPricePerUnit: cap }), [], "A's new price is over the cap");
  assert.equal(reg.select(t2i)[0]!.price?.pricePerUnit, 500);
});

test("suspension: faults suspend with growing penalty and expire; busy never suspends", async () => {
  const { reg, clock } = await fakeRegistry({ [A]: info(A), [B]: info(B) }, { suspensionBaseMs: 1000 });
  reg.reportFailure(A, "transcode-failed");
  assert.deepEqual(reg.select({ ...H264, count: 2 }).map((s) => s.address), [B]);
  assert.equal(reg.explain(H264)[A], "suspended");
  clock.t += 1001;
  assert.equal(reg.select({ ...H264, count: 2 }).length, 2, "suspension expired");
  reg.reportFailure(A, "network"); // second consecutive fault: 2 s
  clock.t += 1500;
  assert.equal(reg.explain(H264)[A], "suspended");
  clock.t += 600;
  assert.equal(reg.explain(H264)[A], "eligible");
  // Busy: never excluded, reliability untouched, only de-prioritised briefly.
  const before = reg.snapshot().find((s) => s.address === B)!.reliability;
  for (let i = 0; i < 10; i++) reg.reportBusy(B);
  const snapB = reg.snapshot().find((s) => s.address === B)!;
  assert.equal(snapB.suspendedUntil, null);
  assert.equal(snapB.reliability, before);
  assert.equal(snapB.busy, 10);
  assert.equal(reg.explain(H264)[B], "eligible");
  assert.equal(reg.select({ ...H264, exclude: new Set([A]) })[0]!.address, B);
  // reportError maps client errors: busy is not a fault, a bad result is.
  reg.reportError(B, new TranscodeError("busy", "OrchestratorBusy"));
  assert.equal(reg.explain(H264)[B], "eligible");
  reg.reportError(B, new TranscodeError("bad-result", "garbage"));
  assert.equal(reg.explain(H264)[B], "suspended");
});

test("scoring: lower latency and better reliability win; success decays the penalty", async () => {
  const { reg, clock } = await fakeRegistry({ [A]: info(A), [B]: info(B) }, { suspensionBaseMs: 1000 });
  for (let i = 0; i < 5; i++) {
    reg.reportSuccess(A, 900);
    reg.reportSuccess(B, 100);
  }
  assert.equal(reg.select(H264)[0]!.address, B);
  reg.reportFailure(B, "bad-result");
  clock.t += 1001;
  reg.reportFailure(B, "network");
  clock.t += 2001;
  assert.equal(reg.snapshot().find((s) => s.address === B)!.penaltyLevel, 2);
  reg.reportSuccess(B, 100);
  assert.equal(reg.snapshot().find((s) => s.address === B)!.penaltyLevel, 1);
  // B's reliability dropped; A (slow but reliable) vs B: both still eligible.
  assert.equal(reg.select({ ...H264, count: 2 }).length, 2);
});

test("refresh: backoff for unreachable, token refreshed before the last 10%, expired tokens unusable", async () => {
  const now = Date.now();
  const infos: Record<string, OrchestratorInfo | Error> = { [A]: new Error("connection refused"), [B]: info(B, { expSec: Math.floor(now / 1000) + 100 }) };
  const { reg, clock, calls } = await fakeRegistry(infos, { backoffBaseMs: 1000, infoMaxAgeMs: 10 * 60_000 });
  assert.deepEqual(calls.sort(), [A, B].sort());
  const count = (a: string) => calls.filter((c) => c === a).length;
  await reg.refreshDue();
  assert.equal(count(A), 1, "backoff: not retried immediately");
  clock.t += 1000;
  await reg.refreshDue();
  assert.equal(count(A), 2);
  clock.t += 1000;
  await reg.refreshDue();
  assert.equal(count(A), 2, "second backoff is 2 s");
  clock.t += 1000;
  await reg.refreshDue();
  assert.equal(count(A), 3);
  assert.equal(reg.explain(H264)[A], "no-info");
  // B: token valid 100 s -> refreshed at 90 s.
  assert.equal(count(B), 1);
  clock.t = now + 85_000;
  await reg.refreshDue();
  assert.equal(count(B), 1);
  infos[B] = new Error("down");
  clock.t = now + 91_000;
  await reg.refreshDue();
  assert.equal(count(B), 2);
  assert.equal(reg.explain(H264)[B], "unreachable");
  // A reachable orchestrator whose token has expired is not selected.
  const { reg: r2, clock: c2 } = await fakeRegistry({ [C]: info(C, { expSec: Math.floor(now / 1000) + 5 }) }, { infoMaxAgeMs: 10 * 60_000 });
  assert.equal(r2.explain(H264)[C], "eligible");
  c2.t = now + 6000;
  assert.equal(r2.explain(H264)[C], "token-expired");
  assert.deepEqual(r2.select(H264), []);
});

test("integration: webhook discovery, real dev orchestrators over gRPC, /v1/orchestrators", async () => {
  const [o1, o2] = await Promise.all([
    startOrchestratorProcess(["--no-ai", "--no-live", "--price-per-unit", "10"], { http: true }),
    startOrchestratorProcess(["--no-ai", "--no-live", "--price-per-unit", "20", "--region", "eu"]), // TLS, self-signed
  ]);
  let body: unknown = [{ address: o1.url, score: 1 }, { address: o2.url, score: 2, region: "eu" }];
  let webhookCalls = 0;
  const webhook = http.createServer((_req, res) => {
    webhookCalls++;
    if (body === "garbage") {
      res.writeHead(200, { "content-type": "application/json" }).end("{not json");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => webhook.listen(0, "127.0.0.1", r));
  const reg = new OrchestratorRegistry({ orchWebhookUrl: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/orchs`, webhookIntervalMs: 50, tickMs: 20 });
  const app = Fastify();
  try {
    await reg.start(5000);
    assert.deepEqual(new Set(reg.addresses()), new Set([o1.url, o2.url]));
    const sel = reg.select({ ...H264, count: 2, region: "eu" });
    assert.deepEqual(sel.map((s) => s.address), [o2.url, o1.url]);
    assert.equal(sel[0]!.transcoder, o2.serviceUrl);
    assert.ok(sel[0]!.authToken.token && sel[0]!.authToken.token.length === 32);
    // Webhook garbage: the last good list is kept.
    body = "garbage";
    const seen = webhookCalls;
    while (webhookCalls < seen + 2) await new Promise((r) => setTimeout(r, 20));
    assert.equal(reg.addresses().length, 2);
    assert.match(reg.webhookStatus().lastError ?? "", /not JSON/);
    // The state API.
    registerOrchestratorRoutes(app, reg, {
      preHandler: async (req, reply) => {
        if (req.headers.authorization !== "Bearer admin") await reply.code(401).send({ error: "unauthorized", message: "admin key required" });
      },
    });
    const denied = await app.inject({ method: "GET", url: "/v1/orchestrators" });
    assert.equal(denied.statusCode, 401);
    const res = await app.inject({ method: "GET", url: "/v1/orchestrators", headers: { authorization: "Bearer admin" } });
    assert.equal(res.statusCode, 200);
    const json = res.json() as { orchestrators: Array<{ address: string; price: { pricePerUnit: number }; reachable: boolean; capabilities: Array<{ name: string }> }> };
    const snap1 = json.orchestrators.find((o) => o.address === o1.url)!;
    assert.equal(snap1.reachable, true);
    assert.equal(snap1.price.pricePerUnit, 10);
    assert.ok(snap1.capabilities.some((c) => c.name === "H264"));
    assert.ok(!res.body.includes('"token"'), "no auth tokens in the snapshot");
    // An orchestrator going away becomes unreachable after a refresh.
    await o1.kill("SIGTERM");
    await reg.refresh(o1.url);
    assert.equal(reg.explain(H264)[o1.url], "unreachable");
  } finally {
    reg.stop();
    await app.close();
    webhook.close();
    await o1.kill("SIGTERM");
    await o2.kill("SIGTERM");
    await closeGrpcClients();
  }
});

test("overload: timeouts never escalate, suspensions are capped at 30 s, a suspended orchestrator gets a trial every 3 s and a success ends its suspension", async () => {
  const { reg, clock } = await fakeRegistry({ [A]: info(A), [B]: info(B) });
  for (let i = 0; i < 10; i++) reg.reportFailure(A, "timeout");
  const snap = () => reg.snapshot().find((s) => s.address === A)!;
  assert.equal(snap().penaltyLevel, 1, "ten timeouts in a row stay at the first level");
  for (let i = 0; i < 20; i++) reg.reportFailure(B, "transcode-failed");
  const untilB = Date.parse(reg.snapshot().find((s) => s.address === B)!.suspendedUntil!);
  assert.ok(untilB - clock.t <= SUSPENSION_MAX_MS, `B suspended for ${untilB - clock.t} ms`);
  // Both suspended: the best of them is still offered rather than nothing.
  assert.equal(reg.select(H264).length, 1, "all suspended: the best is tried");
  // Half-open: B (suspended 30 s) gets a trial after 3 s; its success ends the suspension.
  clock.t += SUSPENDED_PROBE_INTERVAL_MS + 1;
  assert.equal(reg.explain(H264)[B], "eligible", "trial due");
  reg.select({ ...H264, exclude: new Set([A]) });
  assert.equal(reg.explain(H264)[B], "suspended", "one trial per interval");
  reg.reportSuccess(B, 50);
  assert.equal(reg.snapshot().find((s) => s.address === B)!.suspendedUntil, null, "healthy again within seconds");
  assert.equal(reg.explain(H264)[B], "eligible");
});


test("a registry with no orchestrator address and no webhook does not tick (an idle passthrough gateway is not woken for it)", async () => {
  const reg = new OrchestratorRegistry({ tickMs: 5 });
  let ticks = 0;
  const close = reg.closeSuspensions.bind(reg);
  reg.closeSuspensions = () => (ticks++, close());
  await reg.start();
  await new Promise((r) => setTimeout(r, 60));
  reg.stop();
  assert.equal(ticks, 1, "once at start (the gauges read 0), never again");
  assert.deepEqual(reg.snapshot(), []);
});

test("appsSeen: answers from a discovery younger than maxAge, asks again when older, joins a request in flight, reports a failure; unknown orchestrator -> undefined", async () => {
  let asked = 0;
  let answer: () => Promise<{ runners: never[]; byoc: never[] }> = async () => ({ runners: [], byoc: [] });
  const { reg, clock } = await fakeRegistry({ [A]: info(A) }, { fetchApps: () => (asked++, answer()) });
  await reg.refreshApps(A);
  const base = asked;
  assert.deepEqual(await reg.appsSeen(A, 1000), { apps: { runners: [], byoc: [] }, error: undefined });
  assert.equal(asked, base, "young enough: not asked again");
  clock.t += 1000;
  let release!: () => void;
  answer = () => new Promise((resolve) => (release = () => resolve({ runners: [], byoc: [] })));
  const both = Promise.all([reg.appsSeen(A, 1000), reg.appsSeen(A, 1000), reg.refreshApps(A)]);
  await new Promise((r) => setImmediate(r));
  assert.equal(asked, base + 1, "one request for all three callers");
  release();
  await both;
  clock.t += 1000;
  answer = async () => {
    throw new Error("GET /discovery answered 500");
  };
  assert.deepEqual(await reg.appsSeen(A, 1000), { apps: undefined, error: "GET /discovery answered 500" });
  assert.equal(await reg.appsSeen("https://10.9.9.9:8935", 1000), undefined);
});
