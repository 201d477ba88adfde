import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_MULTISTREAM_TARGETS, parseMultistreamTargets, redactTargetUrl } from "./targets.ts";

test("multistream targets: rtmp and rtmps URLs with a rendition (source by default) are accepted", () => {
  const r = parseMultistreamTargets([{ url: "rtmp://a.example/live2/key1" }, { url: "rtmps://b.example:443/app/key2", rendition: "720p" }]);
  assert.deepEqual(r, { ok: true, targets: [{ url: "rtmp://a.example/live2/key1", rendition: "source" }, { url: "rtmps://b.example:443/app/key2", rendition: "720p" }] });
});

test("multistream targets: other schemes, garbage, bad renditions and too many targets are refused with the field named", () => {
  const bad = (v: unknown) => {
    const r = parseMultistreamTargets(v);
    assert.equal(r.ok, false);
    return (r as { reason: string }).reason;
  };
  assert.match(bad([{ url: "http://x/live/k" }]), /multistream\[0\]\.url must start with rtmp/);
  assert.match(bad([{ url: "not a url" }]), /multistream\[0\]\.url is not a URL/);
  assert.match(bad([{ url: "rtmp://x/live/k", rendition: "../x" }]), /multistream\[0\]\.rendition/);
  assert.match(bad({}), /must be an array/);
  assert.match(bad(Array.from({ length: MAX_MULTISTREAM_TARGETS + 1 }, () => ({ url: "rtmp://x/live/k" }))), /at most 10/);
});

test("a target's stream key is hidden when it is told", () => {
  assert.equal(redactTargetUrl("rtmp://a.example/live2/secret-key"), "rtmp://a.example/live2/***");
});
