// The business layer against a real Wharf: API keys, scopes, IP allowlists, rate limits,
// spend caps and stream kicks, with the JSON messages clients see.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pushTestPattern } from "../support/publisher.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep, waitFor } from "../support/wait.ts";

let w: WharfProcess;

describe("business layer", { timeout: 180000 }, () => {
  before(async () => {
    w = await startWharf({
      env: {
        WHARF_METER_INTERVAL_SEC: "1",
        // $1 per second of passthrough streaming, so a cap is crossed quickly.
        WHARF_PRICE_BOOK: JSON.stringify({ pipelines: { passthrough: { mode: "fixed", price: 1, per: 1, basis: "seconds" } } }),
      },
    });
  });
  after(async () => {
    await w?.stop();
  });

  test("401, 403 (scope and IP) and 429 with Retry-After, with JSON messages", async () => {
    const none = await w.api("GET", "/v1/streams", undefined, "");
    assert.equal(none.status, 401);
    assert.ok(none.body.message);
    assert.match(none.headers.get("www-authenticate") ?? "", /Bearer/);

    const ai = await w.api("POST", "/v1/keys", { name: "ai-only", scopes: ["ai"] });
    assert.equal(ai.status, 201, JSON.stringify(ai.body));
    assert.match(ai.body.secret, /^wk_/);
    const scoped = await w.api("GET", "/v1/streams", undefined, ai.body.secret);
    assert.equal(scoped.status, 403);
    assert.match(scoped.body.message, /scope/);

    const fenced = await w.api("POST", "/v1/keys", { name: "office", scopes: ["streams"], ipAllowlist: ["10.0.0.0/8"] });
    assert.equal(fenced.status, 201);
    const fromHere = await w.api("GET", "/v1/streams", undefined, fenced.body.secret);
    assert.equal(fromHere.status, 403);
    assert.match(fromHere.body.message, /127\.0\.0\.1|allowlist/);

    const slow = await w.api("POST", "/v1/keys", { name: "slow", scopes: ["streams"], rateLimit: { requestsPerMinute: 6, burst: 2 } });
    assert.equal(slow.status, 201, JSON.stringify(slow.body));
    const statuses: number[] = [];
    let limited: { status: number; body: any; headers: Headers } | undefined;
    for (let i = 0; i < 4; i++) {
      const r = await w.api("GET", "/v1/streams", undefined, slow.body.secret);
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    assert.deepEqual(statuses.slice(0, 2), [200, 200]);
    assert.ok(limited, `statuses ${statuses}`);
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    assert.match(limited.body.message, /rate limit/);

    // A non-admin key cannot manage keys.
    const notAdmin = await w.api("GET", "/v1/keys", undefined, fenced.body.secret);
    assert.equal(notAdmin.status, 403);
  });

  test("a key's streams are private to it; revoking the key disconnects its live stream within 2 s", async () => {
    const k = await w.api("POST", "/v1/keys", { name: "tenant", scopes: ["streams"] });
    const other = await w.api("POST", "/v1/keys", { name: "other", scopes: ["streams"] });
    const s = await w.api("POST", "/v1/streams", { name: "tenant stream" }, k.body.secret);
    assert.equal(s.status, 201);
    assert.equal((await w.api("GET", `/v1/streams/${s.body.id}`, undefined, other.body.secret)).status, 404);
    assert.equal((await w.api("GET", "/v1/streams", undefined, other.body.secret)).body.streams.length, 0);

    const pub = pushTestPattern(s.body.rtmpUrl, { size: "320x240" });
    try {
      await waitFor("live", async () => (await w.api("GET", `/v1/streams/${s.body.id}`, undefined, k.body.secret)).body.state === "live", 10000);
      const revokedAt = Date.now();
      const del = await w.api("DELETE", `/v1/keys/${k.body.key?.id ?? k.body.id}`);
      assert.ok(del.status === 200 || del.status === 204, JSON.stringify(del.body));
      const outcome = await Promise.race([pub.exited.then(() => "gone"), sleep(2500).then(() => "still connected")]);
      assert.equal(outcome, "gone");
      assert.ok(Date.now() - revokedAt < 2500);
      const view = await w.api("GET", `/v1/streams/${s.body.id}`);
      assert.equal(view.body.state, "idle");
      assert.equal(view.body.lastEnded.reason, "key-revoked");
      // The revoked key can neither call the API nor publish again.
      assert.equal((await w.api("GET", "/v1/streams", undefined, k.body.secret)).status, 401);
      const again = pushTestPattern(s.body.rtmpUrl, { seconds: 5, size: "320x240" });
      assert.notEqual((await again.exited).code, 0);
    } finally {
      await pub.stop();
    }
  });

  test("a live stream crossing its key's spend cap is ended with a clear reason; a new one is refused with 402", async () => {
    const k = await w.api("POST", "/v1/keys", { name: "capped", scopes: ["streams"], spendCaps: { daily: 3 } });
    assert.equal(k.status, 201, JSON.stringify(k.body));
    const s = await w.api("POST", "/v1/streams", { name: "capped stream" }, k.body.secret);
    const pub = pushTestPattern(s.body.rtmpUrl, { size: "320x240" });
    try {
      await waitFor("live", async () => (await w.api("GET", `/v1/streams/${s.body.id}`)).body.state === "live", 10000);
      const ended = await waitFor("ended by the cap", async () => {
        const v = (await w.api("GET", `/v1/streams/${s.body.id}`)).body;
        return v.state === "idle" && v.lastEnded ? v : undefined;
      }, 15000, 200);
      assert.equal(ended.lastEnded.reason, "spend-cap");
      assert.match(ended.lastEnded.detail, /daily/);
      const usage = await w.api("GET", `/v1/usage?key=${k.body.key?.id ?? k.body.id}&groupBy=pipeline`);
      assert.equal(usage.status, 200, JSON.stringify(usage.body));
      assert.match(JSON.stringify(usage.body), /passthrough/);
      // Over the cap now: publishing again is refused.
      const again = pushTestPattern(s.body.rtmpUrl, { seconds: 5, size: "320x240" });
      assert.notEqual((await again.exited).code, 0);
      assert.equal((await w.api("GET", `/v1/streams/${s.body.id}`)).body.state, "idle");
    } finally {
      await pub.stop();
    }
  });

  test("a key's live-stream concurrency limit refuses one stream too many, and frees the slot when it ends", async () => {
    const k = await w.api("POST", "/v1/keys", { name: "one-at-a-time", scopes: ["streams"], maxConcurrentStreams: 1 });
    assert.equal(k.status, 201, JSON.stringify(k.body));
    const first = (await w.api("POST", "/v1/streams", { name: "first" }, k.body.secret)).body;
    const second = (await w.api("POST", "/v1/streams", { name: "second" }, k.body.secret)).body;
    const pub = pushTestPattern(first.rtmpUrl, { size: "320x240" });
    try {
      await waitFor("first live", async () => (await w.api("GET", `/v1/streams/${first.id}`)).body.state === "live", 10000);
      const refused = pushTestPattern(second.rtmpUrl, { seconds: 5, size: "320x240" });
      assert.notEqual((await refused.exited).code, 0, "the second live stream is refused");
      assert.equal((await w.api("GET", `/v1/streams/${second.id}`)).body.state, "idle");
    } finally {
      await pub.stop();
    }
    await waitFor("first idle", async () => (await w.api("GET", `/v1/streams/${first.id}`)).body.state === "idle", 5000);
    const again = pushTestPattern(second.rtmpUrl, { size: "320x240" });
    try {
      await waitFor("second live once the slot is free", async () => (await w.api("GET", `/v1/streams/${second.id}`)).body.state === "live", 10000);
    } finally {
      await again.stop();
    }
  });

  test("the audit log records key changes and auth failures; secrets are never stored or logged in clear", async () => {
    const k = await w.api("POST", "/v1/keys", { name: "audited", scopes: ["ai"] });
    await w.api("GET", "/v1/streams", undefined, "wk_definitely_wrong_secret_value");
    const audit = await w.api("GET", "/v1/audit?limit=200");
    assert.equal(audit.status, 200);
    const actions = JSON.stringify(audit.body);
    assert.match(actions, /key\.created/);
    assert.match(actions, /key\.revoked/);
    assert.match(actions, /auth\.failed/);
    // The streams ended by key revocation and by the spend cap (earlier tests) were audited as kicks.
    const entries = audit.body.entries as Array<{ action: string; details: { reason?: string } }>;
    const reasons = entries.filter((e) => e.action === "stream.kicked").map((e) => e.details.reason);
    assert.ok(reasons.includes("key-revoked") && reasons.includes("spend-cap"), `kick reasons audited: ${JSON.stringify(reasons)}`);
    const secret: string = k.body.secret;
    for (const f of readdirSync(w.dataDir)) {
      if (f === "admin-key" || !f.startsWith("wharf.db")) continue;
      assert.ok(!readFileSync(join(w.dataDir, f)).includes(Buffer.from(secret)), `${f} holds the secret in clear`);
    }
    assert.ok(!w.output().includes(secret), "the secret appears in the logs");
    assert.ok(!w.output().includes(w.adminKey), "the admin key appears in the logs");
  });
});
