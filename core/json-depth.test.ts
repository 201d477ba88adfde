import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_JSON_DEPTH, nestedDeeperThan } from "./json-depth.ts";

const nested = (depth: number, open: "{" | "[" = "{") => {
  let s = "1";
  for (let i = 0; i < depth; i++) s = open === "{" ? `{"a":${s}}` : `[${s}]`;
  return JSON.parse(s) as unknown;
};

test("nesting is counted in objects and arrays; scalars are depth 0", () => {
  assert.equal(nestedDeeperThan(1, 0), false);
  assert.equal(nestedDeeperThan("x".repeat(100), 0), false);
  assert.equal(nestedDeeperThan(null, 0), false);
  assert.equal(nestedDeeperThan({}, 0), true);
  assert.equal(nestedDeeperThan({}, 1), false);
  assert.equal(nestedDeeperThan({ a: [1, { b: 2 }] }, 2), true);
  assert.equal(nestedDeeperThan({ a: [1, { b: 2 }] }, 3), false);
  assert.equal(nestedDeeperThan(nested(MAX_JSON_DEPTH)), false);
  assert.equal(nestedDeeperThan(nested(MAX_JSON_DEPTH + 1)), true);
  assert.equal(nestedDeeperThan(nested(MAX_JSON_DEPTH + 1, "[")), true);
});

test("a value nested 100,000 deep is checked without overflowing the stack", () => {
  assert.equal(nestedDeeperThan(nested(100_000, "[")), true);
  assert.equal(nestedDeeperThan(nested(100_000)), true);
});
