// The customer's part of an app URL: a dot segment in any spelling the URL parser resolves is
// refused; anything else is joined under the base as written.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appUrl, isSafeAppPath } from "./app-path.ts";

test("dot segments are refused in the spellings the URL parser resolves, a fragment's start included", () => {
  for (const p of ["..", ".", "../../echo/session", "a/../b", "a/./b", "%2e%2E/x", ".%2e", "%2e", "x/..?q=1", "..\\x", "a\\..\\b", "x/%2E", "..#", "a/..#frag", "%2e%2e#x"]) {
    assert.equal(isSafeAppPath(p), false, p);
    assert.equal(appUrl("http://o/apps/json/app", p), undefined, p);
  }
});

test("other paths, dots inside names and dot segments in the query included, stay under the base", () => {
  for (const p of ["v1/json", "", "a/...", "a/.b", "a..", ".hidden/x", "x?a=../..", "x/%2e%2ex", "v1/json?delayMs=5"]) {
    assert.equal(isSafeAppPath(p), true, p);
    const u = appUrl("http://o/apps/json/app", p)!;
    assert.ok(u.pathname.startsWith("/apps/json/app/"), `${p} -> ${u.href}`);
  }
  assert.equal(appUrl("http://o/apps/json/app", "v1/json?x=1")!.href, "http://o/apps/json/app/v1/json?x=1");
});
