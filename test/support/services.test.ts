// The rule for service tests: skip without the service, except under CI=true where they must fail.
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireServices } from "./services.ts";

function withEnv(env: Record<string, string | undefined>, fn: () => void): void {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  try {
    fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  }
}

test("a missing service skips the test outside CI", () => {
  withEnv({ CI: undefined, WHARF_TEST_REDIS_URL: undefined }, () => {
    const r = requireServices("WHARF_TEST_REDIS_URL");
    assert.match(String(r.skip), /WHARF_TEST_REDIS_URL not set/);
  });
});

test("a missing service under CI=true does not skip: asking for its URL fails the test", () => {
  withEnv({ CI: "true", WHARF_TEST_REDIS_URL: undefined }, () => {
    const r = requireServices("WHARF_TEST_REDIS_URL");
    assert.equal(r.skip, false);
    assert.throws(() => r.url("WHARF_TEST_REDIS_URL"), /under CI=true/);
  });
});

test("a present service runs the test with its URL", () => {
  withEnv({ CI: "true", WHARF_TEST_REDIS_URL: "redis://127.0.0.1:6379" }, () => {
    const r = requireServices("WHARF_TEST_REDIS_URL");
    assert.equal(r.skip, false);
    assert.equal(r.url("WHARF_TEST_REDIS_URL"), "redis://127.0.0.1:6379");
  });
});
