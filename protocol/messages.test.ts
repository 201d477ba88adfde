import assert from "node:assert/strict";
import { test } from "node:test";
import protobuf from "protobufjs";
import {
  buildBitstring,
  bitstringToList,
  Capability,
  capabilityToPipeline,
  checkCompatible,
  hasCapability,
  pipelineToCapability,
} from "./capabilities.ts";
import {
  DecodeError,
  decodeBase64,
  decodeMessage,
  encodeMessage,
  messageType,
  type MessageName,
  type MessageTypes,
  type OrchestratorInfo,
  type SegData,
  VideoFormat,
  VideoProfileLevel,
} from "./messages.ts";
import { parseTranscodingOptions, PRESETS, profilesFieldNumber, profilesForSegData, profilesFromSegData, ProfileError } from "./profiles.ts";
import { aiRequestHeaders, buildSegData, keccak256, parseAiManifestId, parseSegmentHeader, segmentRequestHeaders } from "./segment-header.ts";

const b = (s: string) => Buffer.from(s);
const ticketParams = {
  recipient: b("r"),
  faceValue: b("f"),
  winProb: b("w"),
  recipientRandHash: b("h"),
  seed: b("s"),
  expirationBlock: b("e"),
  expirationParams: { creationRound: 42, creationRoundBlockHash: b("bh") },
};
const caps = {
  bitstring: [(1n << 63n) | 5n, 8n],
  mandatories: [2n],
  capacities: { 1: 4, 27: 2 },
  version: "0.9.1",
  constraints: {
    minVersion: "0.8.0",
    PerCapability: { 27: { models: { "stabilityai/sd-turbo": { warm: true, capacity: 2, runnerVersion: "v1", capacityInUse: 1 } } } },
  },
};
const profile = { name: "P240p30fps16x9", width: 426, height: 240, bitrate: 600000, fps: 30, format: 1, fpsDen: 1001, profile: 3, gop: 2000, encoder: 1, colorDepth: 8, chromaFormat: 1, quality: 23 };
const orchInfo: OrchestratorInfo = {
  transcoder: "https://127.0.0.1:8935",
  ticketParams,
  priceInfo: { pricePerUnit: 1200, pixelsPerUnit: 1, capability: 0, constraint: "" },
  address: b("addr"),
  capabilities: caps,
  authToken: { token: b("tok"), sessionId: "sess", expiration: 1_900_000_000 },
  hardware: [{ pipeline: "text-to-image", modelId: "m", gpuInfo: { "0": { id: "gpu0", name: "RTX", major: 8, minor: 6, memoryFree: 1 << 30, memoryTotal: 2 ** 34 } } }],
  storage: [{ storageType: 1, s3info: { host: "h", key: "k", policy: "p", signature: "s", credential: "c", xAmzDate: "d" } }],
  capabilitiesPrices: [{ pricePerUnit: 5, pixelsPerUnit: 1, capability: 27, constraint: "m" }],
  nodes: ["https://a:1", "https://b:2"],
};

const samples: { [N in MessageName]?: MessageTypes[N] } = {
  PingPong: { value: b("ping") },
  EndTranscodingSessionRequest: { authToken: { token: b("t"), sessionId: "x", expiration: 5 } },
  OrchestratorRequest: { address: b("a"), sig: b("s"), capabilities: caps, ignoreCapacityCheck: true },
  OSInfo: { storageType: 2, s3info: { host: "h" } },
  S3OSInfo: { host: "h", key: "k", policy: "p", signature: "s", credential: "c", xAmzDate: "d" },
  PriceInfo: { pricePerUnit: 2 ** 40, pixelsPerUnit: 3, capability: 35, constraint: "noop" },
  Capabilities: caps,
  HardwareInformation: orchInfo.hardware![0],
  GPUComputeInfo: { id: "g", name: "n", major: 1, minor: 2, memoryFree: 3, memoryTotal: 4 },
  OrchestratorInfo: orchInfo,
  AuthToken: { token: b("t"), sessionId: "s", expiration: 1_900_000_000 },
  SegData: {
    manifestId: b("mid"),
    seq: 2 ** 33,
    hash: b("hash"),
    profiles: b("invalid"),
    sig: b("sig"),
    duration: 2000,
    capabilities: caps,
    authToken: { token: b("t"), sessionId: "s", expiration: 9 },
    calcPerceptualHash: true,
    storage: [{ storageType: 0 }],
    fullProfiles: [profile],
    fullProfiles2: [profile, profile],
    fullProfiles3: [{ ...profile, name: "x" }],
    segmentParameters: { from: 100, to: 2100 },
    ForceSessionReinit: true,
  },
  SegmentParameters: { from: 1, to: 2 },
  VideoProfile: profile,
  TranscodedSegmentData: { url: "https://x/stream/1.ts", pixels: 2 ** 35, perceptualHashUrl: "p" },
  TranscodeData: { segments: [{ url: "u", pixels: 1 }], sig: b("sig") },
  PaymentResult: { info: orchInfo },
  TicketParams: ticketParams,
  TicketExpirationParams: { creationRound: 7, creationRoundBlockHash: b("x") },
  TicketSenderParams: { senderNonce: 3, sig: b("s") },
  Payment: {
    ticketParams,
    sender: b("sender"),
    expirationParams: { creationRound: 1, creationRoundBlockHash: b("h") },
    ticketSenderParams: [{ senderNonce: 1, sig: b("a") }, { senderNonce: 2, sig: b("b") }],
    expectedPrice: { pricePerUnit: 10, pixelsPerUnit: 1 },
  },
};

/** Deep "every field of expected is in actual" (decode adds defaults). */
function assertContains(actual: unknown, expected: unknown, path = "$"): void {
  if (expected instanceof Uint8Array) {
    assert.ok(actual instanceof Uint8Array, `${path}: not bytes`);
    assert.deepEqual(Buffer.from(actual), Buffer.from(expected), path);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: not an array`);
    assert.equal(actual.length, expected.length, `${path}.length`);
    expected.forEach((e, i) => assertContains((actual as unknown[])[i], e, `${path}[${i}]`));
    return;
  }
  if (expected && typeof expected === "object") {
    assert.ok(actual && typeof actual === "object", `${path}: not an object`);
    for (const [k, v] of Object.entries(expected)) assertContains((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
    return;
  }
  assert.equal(actual, expected, path);
}

test("every message round-trips (maps, nested maps, repeated, bigint bitstrings, int64 as numbers)", () => {
  for (const [name, value] of Object.entries(samples) as Array<[MessageName, MessageTypes[MessageName]]>) {
    const bytes = encodeMessage(name, value);
    const back = decodeMessage(name, bytes);
    assertContains(back, value, name);
  }
  const c = decodeMessage("Capabilities", encodeMessage("Capabilities", caps));
  assert.equal(typeof c.bitstring![0], "bigint");
  assert.equal(c.bitstring![0], (1n << 63n) | 5n);
  const s = decodeMessage("SegData", encodeMessage("SegData", samples.SegData!));
  assert.equal(s.seq, 2 ** 33);
  assert.equal(typeof s.segmentParameters!.from, "number");
});

test("TranscodeResult oneof: error or data, with `result` naming the member", () => {
  const err = decodeMessage("TranscodeResult", encodeMessage("TranscodeResult", { seq: 4, error: "OrchestratorBusy", info: orchInfo }));
  assert.equal(err.result, "error");
  assert.equal(err.error, "OrchestratorBusy");
  assert.equal(err.data, undefined);
  assert.equal(err.info?.transcoder, orchInfo.transcoder);
  const ok = decodeMessage("TranscodeResult", encodeMessage("TranscodeResult", { seq: 5, data: { segments: [{ url: "a", pixels: 9 }] } }));
  assert.equal(ok.result, "data");
  assert.equal(ok.error, undefined);
  assert.equal(ok.data?.segments?.[0]?.url, "a");
});

test("field numbers follow the wire contract", () => {
  const num = (type: MessageName, field: string) => (messageType(type).fields[field] as protobuf.Field).id;
  assert.equal(num("OrchestratorInfo", "capabilitiesPrices"), 33);
  assert.equal(num("OrchestratorInfo", "storage"), 32);
  assert.equal(num("SegData", "fullProfiles3"), 35);
  assert.equal(num("SegData", "segmentParameters"), 37);
  assert.equal(num("SegData", "ForceSessionReinit"), 38);
  assert.equal(num("VideoProfile", "name"), 16);
  assert.equal(num("VideoProfile", "quality"), 28);
  assert.equal(num("TranscodeResult", "info"), 16);
  assert.equal(num("PaymentResult", "info"), 16);
  assert.equal(num("OSInfo", "s3info"), 16);
  // Hand-encoded bytes: TranscodeResult{seq=1 (field 1 varint), error="x" (field 2)}
  const r = decodeMessage("TranscodeResult", Buffer.from([0x08, 0x01, 0x12, 0x01, 0x78]));
  assert.deepEqual([r.seq, r.error], [1, "x"]);
});

test("garbage is a DecodeError", () => {
  assert.throws(() => decodeMessage("TranscodeResult", Buffer.from("<html>not protobuf</html>")), DecodeError);
  assert.throws(() => decodeBase64("SegData", "%%%"), DecodeError);
});

test("capabilities: bitstring, pipelines, compatibility", () => {
  const bits = buildBitstring([0, 1, 63, 64, 99]);
  assert.equal(bits.length, 2);
  assert.ok(hasCapability(bits, 63) && hasCapability(bits, 99) && !hasCapability(bits, 98) && !hasCapability(bits, 200));
  assert.deepEqual(bitstringToList(bits), [0, 1, 63, 64, 99]);
  assert.equal(pipelineToCapability("live-video-to-video"), 35);
  assert.equal(pipelineToCapability("text-to-speech"), 36);
  assert.equal(pipelineToCapability("constructor"), undefined);
  assert.equal(capabilityToPipeline(Capability.Upscale), "upscale");
  const orch = { bitstring: buildBitstring([0, 1, 12, 27]), mandatories: buildBitstring([12]), constraints: { minVersion: "0.9.0", PerCapability: { 27: { models: { m: { warm: false } } } } } };
  assert.equal(checkCompatible(orch, { capabilities: [0, 1, 12] }), undefined);
  assert.deepEqual(checkCompatible(orch, { capabilities: [0, 1, 2, 12] }), { kind: "missing-capability", capability: 2 });
  assert.deepEqual(checkCompatible(orch, { capabilities: [0, 1] }), { kind: "mandatory-not-requested", capability: 12 });
  assert.deepEqual(checkCompatible(orch, { capabilities: [12], version: "0.8.9" }), { kind: "version", minVersion: "0.9.0" });
  assert.equal(checkCompatible(orch, { capabilities: [12], version: "0.10.0" }), undefined);
  assert.deepEqual(checkCompatible(orch, { capabilities: [12, 27], models: { 27: ["x"] } }), { kind: "missing-model", capability: 27, model: "x" });
  assert.equal(checkCompatible(orch, { capabilities: [12, 27], models: { 27: ["m"] } }), undefined);
  assert.deepEqual(checkCompatible(orch, { capabilities: [12, 27], models: { 27: ["m"] }, warm: true }), { kind: "cold-model", capability: 27, model: "m" });
});

test("keccak-256 (not SHA3-256) and the segment headers", () => {
  assert.equal(keccak256(Buffer.alloc(0)).toString("hex"), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  assert.equal(keccak256(Buffer.from("abc")).toString("hex"), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
  const data = Buffer.from("segment bytes");
  const authToken = { token: b("tok"), sessionId: "s", expiration: 123 };
  const h = segmentRequestHeaders({ manifestId: "stream1", seq: 9, data, durationMs: 2000, authToken, profiles: [PRESETS.P144p30fps16x9!] });
  assert.equal(h["Livepeer-Payment"], "");
  assert.equal(h["Content-Type"], "video/MP2T");
  const seg = parseSegmentHeader(h["Livepeer-Segment"]!);
  assert.equal(Buffer.from(seg.manifestId!).toString(), "stream1");
  assert.equal(seg.seq, 9);
  assert.equal(seg.duration, 2000);
  assert.deepEqual(Buffer.from(seg.hash!), keccak256(data));
  assert.equal(Buffer.from(seg.profiles!).toString(), "invalid");
  assert.equal(seg.fullProfiles?.length, 1);
  assert.equal(seg.fullProfiles3?.length ?? 0, 0);
  assert.ok(hasCapability(seg.capabilities?.bitstring, Capability.AuthToken));
  assert.deepEqual(seg.authToken?.sessionId, "s");
  const ai = aiRequestHeaders(Capability.TextToImage, "stabilityai/sd-turbo", authToken);
  assert.equal(ai.Authorization, "Livepeer-AI-Worker-1.0");
  const aiSeg = parseSegmentHeader(ai["Livepeer-Segment"]!);
  assert.equal(Buffer.from(aiSeg.manifestId!).toString(), "27_stabilityai/sd-turbo");
  assert.equal(aiSeg.seq, 0);
  assert.deepEqual(Buffer.from(aiSeg.hash!), keccak256(Buffer.alloc(0)));
  assert.deepEqual(parseAiManifestId(aiSeg.manifestId!), { capability: 27, modelId: "stabilityai/sd-turbo" });
});

test("profiles: presets, JSON ladders, and the SegData field go-livepeer would use", () => {
  const two = parseTranscodingOptions("P240p30fps16x9, P360p30fps16x9");
  assert.deepEqual(two.map((p) => [p.width, p.height, p.bitrate, p.fps]), [[426, 240, 600000, 30], [640, 360, 1200000, 30]]);
  assert.deepEqual([PRESETS.P144p30fps16x9!.width, PRESETS.P720p30fps16x9!.bitrate], [256, 4000000]);
  assert.throws(() => parseTranscodingOptions("P999p"), ProfileError);
  const ladder = parseTranscodingOptions('[{"name":"a","width":1280,"height":720,"bitrate":3000000,"fps":30,"fpsDen":1001,"profile":"H264ConstrainedHigh","gop":"2"}]');
  assert.deepEqual([ladder[0]!.fpsDen, ladder[0]!.profile, ladder[0]!.gop], [1001, VideoProfileLevel.H264_CONSTRAINED_HIGH, 2000]);
  assert.throws(() => parseTranscodingOptions('[{"width":0,"height":1,"bitrate":1}]'), /width/);
  assert.throws(() => parseTranscodingOptions("[{"), /invalid JSON/);
  assert.equal(profilesFieldNumber(two), 33);
  assert.equal(profilesFieldNumber([{ ...two[0]!, format: VideoFormat.MP4 }]), 34);
  assert.equal(profilesFieldNumber([two[0]!, { ...two[1]!, gop: 1000 }]), 35);
  assert.equal(profilesFieldNumber([{ ...two[0]!, fpsDen: 1001 }]), 35);
  assert.equal(profilesFieldNumber([{ ...two[0]!, profile: VideoProfileLevel.H264_MAIN, format: VideoFormat.MP4 }]), 35);
  assert.deepEqual(Object.keys(profilesForSegData([{ ...two[0]!, gop: 1000 }])), ["fullProfiles3"]);
  const seg: SegData = { fullProfiles: [two[0]!], fullProfiles2: [two[1]!], fullProfiles3: [] };
  assert.equal(profilesFromSegData(seg)[0]!.width, 640, "34 before 33");
  assert.equal(profilesFromSegData({ ...seg, fullProfiles3: [PRESETS.P144p30fps16x9!] })[0]!.width, 256, "35 first");
  const built = buildSegData({ manifestId: "m", seq: 1, data: Buffer.alloc(1), durationMs: 1000, authToken: {}, profiles: ladder });
  assert.equal(built.fullProfiles3?.length, 1);
  assert.equal(built.fullProfiles, undefined);
});
