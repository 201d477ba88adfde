// Reading a GET /discovery answer: valid runners and capabilities kept (missing counts filled in),
// each malformed one dropped and counted without taking the others along.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ByocHeaderError, parseByocHeader, parseDiscovery, runnerIdOf } from "./live-runner.ts";

const good = { url: "http://o:8935/apps/json/app", app: "example/json", version: "1", mode: "single-shot", capacity: 4, capacity_used: 1, capacity_available: 3, gpu: null, price_info: { price: 1000, currency: "wei", unit: "fixed" } };

test("valid runners and BYOC capabilities are kept; capacity_used and capacity are filled in when absent", () => {
  const { runners, byoc, dropped } = parseDiscovery([
    { address: "http://o:8935", runners: [good, { url: "https://o/apps/e/session", app: "example/echo", mode: "persistent", capacity_available: 2 }], byoc: [{ name: "box", capacity_available: 1 }] },
  ]);
  assert.equal(dropped, 0);
  assert.deepEqual(runners[0], good);
  assert.deepEqual(runners[1], { url: "https://o/apps/e/session", app: "example/echo", mode: "persistent", version: "", gpu: null, capacity: 2, capacity_used: 0, capacity_available: 2 });
  assert.deepEqual(byoc, [{ name: "box", capacity: 1, capacity_used: 0, capacity_available: 1 }]);
});

test("a price as a decimal string is read as a number, a null price is no price; malformed descriptive fields are dropped, not the runner", () => {
  const { runners, dropped } = parseDiscovery([{ runners: [
    { ...good, price_info: { price: "925925925.9", currency: "wei", unit: "seconds", price_per_unit: "1000", pixels_per_unit: 1 } },
    { ...good, price_info: null, version: 3, gpu: "big", metadata: { region: "eu" } },
    { ...good, metadata: "x".repeat(1025) },
    { ...good, metadata: "é".repeat(600) },
    { ...good, metadata: "{\"region\":\"eu\"}" },
  ] }]);
  assert.equal(dropped, 0);
  assert.deepEqual(runners[0]!.price_info, { price: 925925925.9, currency: "wei", unit: "seconds", price_per_unit: 1000, pixels_per_unit: 1 });
  assert.equal(runners[1]!.price_info, undefined);
  assert.equal(runners[1]!.version, "");
  assert.equal(runners[1]!.gpu, null);
  // go-livepeer's metadata is a string of at most 1024 bytes: an object, or more bytes, is not kept.
  assert.equal(runners[1]!.metadata, undefined);
  assert.equal(runners[2]!.metadata, undefined);
  assert.equal(runners[3]!.metadata, undefined);
  assert.equal(runners[4]!.metadata, "{\"region\":\"eu\"}");
});

test("go-livepeer's own discovery entries are read: its current shape, an older build's price fields, a missing mode, capacity below 0", () => {
  // ai/runner/live_runner.go LiveRunnerDiscoveryRunner: price is a json.Number of wei, currency "wei", metadata a string.
  const current = { url: "https://orch:8935/apps/r1/session", gpu: { id: "GPU-1", name: "RTX 4090", vram_mb: 24564 }, app: "daydream/sd", version: "1.2", metadata: "{\"region\":\"eu\"}", mode: "persistent", capacity: 2, capacity_used: 3, capacity_available: -1, price_info: { price: 925926, currency: "wei", unit: "seconds" } };
  const older = { url: "https://orch:8935/apps/r2/app", app: "a/b", capacity: 1, capacity_used: 0, capacity_available: 1, mode: "single_shot", price_info: { price_per_unit: 3, pixels_per_unit: 2, unit: "WEI" } };
  const noMode = { url: "https://orch:8935/apps/r3/session", app: "c/d", capacity: 1, capacity_used: 0, capacity_available: 1 };
  const { runners, dropped } = parseDiscovery([{ address: "https://orch:8935", runners: [current, older, noMode] }]);
  assert.equal(dropped, 0);
  assert.deepEqual(runners.map((r) => [r.mode, r.capacity_available, r.price_info?.price, r.price_info?.unit]), [
    ["persistent", 0, 925926, "seconds"],
    ["single-shot", 1, 1.5, undefined],
    ["persistent", 1, undefined, undefined],
  ]);
  assert.equal(runners[0]!.gpu?.name, "RTX 4090");
  assert.equal(runners[0]!.metadata, "{\"region\":\"eu\"}");
});

test("each malformed entry is dropped and counted; the valid ones stay", () => {
  const bad = [
    { ...good, price_info: { ...good.price_info, price: "x" } },
    { ...good, price_info: { ...good.price_info, price: "1e400" } },
    { ...good, price_info: { ...good.price_info, price_per_unit: "-3" } },
    { ...good, price_info: { ...good.price_info, price: -5 } },
    { ...good, price_info: { ...good.price_info, price: 1e303 } },
    { ...good, price_info: { ...good.price_info, unit: "hour" } },
    { ...good, url: "not a url" },
    { ...good, url: "file:///etc/passwd" },
    { ...good, mode: "batch" },
    { ...good, capacity_available: 1.5 },
    { ...good, price_info: { ...good.price_info, currency: "usd" } },
    { ...good, price_info: { currency: "wei", unit: "seconds" } },
    { ...good, app: 7 },
    { ...good, app: "" },
    null,
    "runner",
  ];
  const { runners, byoc, dropped } = parseDiscovery([{ runners: [...bad, good], byoc: [{ name: "box", capacity_available: "lots" }, { name: "ok", capacity_available: 1 }] }, { runners: "none" }, null]);
  assert.equal(dropped, bad.length + 1);
  assert.deepEqual(runners.map((r) => r.url), [good.url]);
  assert.deepEqual(byoc.map((b) => b.name), ["ok"]);
});

test("an answer that is not a JSON array is an error", () => {
  assert.throws(() => parseDiscovery({ runners: [] }), /expected a JSON array/);
});

test("runnerIdOf: the runner of a discovery URL, undefined for broken %-encoding", () => {
  assert.equal(runnerIdOf("http://o/apps/my%20runner/session"), "my runner");
  assert.equal(runnerIdOf("http://o/apps/%E0%A4%A/app"), undefined);
  assert.equal(runnerIdOf("http://o/elsewhere"), undefined);
});

test("a Livepeer header's parameters as go-livepeer's gateway sends them (a JSON string) or as an object; a timeout up to an hour", () => {
  const header = (job: Record<string, unknown>) => Buffer.from(JSON.stringify({ request: "{}", capability: "box", ...job })).toString("base64");
  const asString = parseByocHeader(header({ parameters: JSON.stringify({ orchestrators: { include: ["https://o1"] } }), timeout_seconds: 120 }));
  assert.deepEqual(asString.parameters.orchestrators?.include, ["https://o1"]);
  assert.equal(asString.timeout_seconds, 120);
  assert.deepEqual(parseByocHeader(header({ parameters: { orchestrators: { exclude: ["https://o2"] } } })).parameters.orchestrators?.exclude, ["https://o2"]);
  assert.deepEqual(parseByocHeader(header({ parameters: "" })).parameters, {});
  assert.equal(parseByocHeader(header({ timeout_seconds: 1e9 })).timeout_seconds, 3600);
  assert.throws(() => parseByocHeader(header({ parameters: "{not json" })), ByocHeaderError);
  assert.throws(() => parseByocHeader(header({ parameters: JSON.stringify({ orchestrators: { include: "x" } }) })), ByocHeaderError);
  // What go-livepeer's orchestrator would take after charging (a request it cannot read leaks its slot): refused here.
  assert.throws(() => parseByocHeader(header({ request: "[1]" })), /JSON object/);
  assert.throws(() => parseByocHeader(header({ request: "not json" })), /JSON object/);
  assert.throws(() => parseByocHeader(header({ request: JSON.stringify({ stream_id: 5 }) })), /stream_id/);
  assert.throws(() => parseByocHeader(header({ request: "null" })), /JSON object/, "go takes null, Wharf's signer signs objects only");
  assert.equal(parseByocHeader(header({ timeout_seconds: 1.5 })).timeout_seconds, 2, "go's timeout is an int: rounded up");
  assert.throws(() => parseByocHeader(header({ capability: "a,b" })), /commas/);
  assert.throws(() => parseByocHeader(header({ capability: "x".repeat(129) })), /128/);
});
