import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, ConfigError, envName } from "./load.ts";

test("defaults match the documented names and values", () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.httpPort, 8935);
  assert.equal(c.rtmpPort, 1935);
  assert.equal(c.host, "127.0.0.1");
  assert.equal(c.segmentDuration, 2);
  assert.equal(envName("httpPort"), "WHARF_HTTP_PORT");
  assert.equal(envName("orchAddr"), "WHARF_ORCH_ADDR");
  assert.equal(envName("dataDir"), "WHARF_DATA_DIR");
  assert.equal(envName("adminKey"), "WHARF_ADMIN_KEY");
});

test("file < env < flags precedence", () => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-cfg-"));
  const file = join(dir, "c.json");
  writeFileSync(file, JSON.stringify({ httpPort: 1000, rtmpPort: 2000, host: "0.0.0.0" }));
  const c = loadConfig({ env: { WHARF_CONFIG: file, WHARF_HTTP_PORT: "3000" }, argv: ["--rtmp-port", "4000"] });
  assert.equal(c.host, "0.0.0.0");
  assert.equal(c.httpPort, 3000);
  assert.equal(c.rtmpPort, 4000);
  const d = loadConfig({ env: {}, argv: ["--orchAddr=https://127.0.0.1:9000", "--ignoreMaxPriceIfNeeded"] });
  assert.equal(d.orchAddr, "https://127.0.0.1:9000");
  assert.equal(d.ignoreMaxPriceIfNeeded, true);
});

test("an invalid value names the field", () => {
  assert.throws(() => loadConfig({ env: { WHARF_HTTP_PORT: "abc" } }), (e: Error) => e instanceof ConfigError && /httpPort/.test(e.message) && /WHARF_HTTP_PORT/.test(e.message));
  assert.throws(() => loadConfig({ env: { WHARF_HTTP_PORT: "70000" } }), (e: Error) => /httpPort/.test(e.message));
  assert.throws(() => loadConfig({ env: {}, argv: ["--segment-duration", "0.1"] }), (e: Error) => /segmentDuration/.test(e.message));
  assert.throws(() => loadConfig({ env: {}, argv: ["--no-such-thing", "1"] }), (e: Error) => /unknown flag --no-such-thing/.test(e.message));
  assert.throws(() => loadConfig({ env: {}, overrides: { logLevel: "loud" as never } }), (e: Error) => /logLevel/.test(e.message));
});

test("an unknown flag suggests the nearest setting", () => {
  assert.throws(() => loadConfig({ env: {}, argv: ["--http-prot", "9000"] }), (e: Error) => /unknown flag --http-prot \(did you mean --http-port\?\)/.test(e.message));
  assert.throws(() => loadConfig({ env: {}, argv: ["--remote-signer", "x"] }), (e: Error) => /did you mean --remote-signer-url\?/.test(e.message));
  assert.throws(() => loadConfig({ env: {}, argv: ["--zzzzzzzz", "1"] }), (e: Error) => !/did you mean/.test(e.message));
});

