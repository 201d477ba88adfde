// Stream-key rotation as an operator uses it: over the API (admin or owner) and with the CLI
// while Wharf runs. The old key is refused at once; a publisher already live on it keeps going.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { pushTestPattern } from "../support/publisher.ts";
import { REPO, startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";

let w: WharfProcess;

const state = async (id: string) => (await w.api("GET", `/v1/streams/${id}`)).body.state as string;

/** Publishes for a few seconds; resolves with ffmpeg's exit code (non-zero when refused). */
async function briefPush(url: string): Promise<number | null> {
  return (await pushTestPattern(url, { seconds: 3, size: "320x180" }).exited).code;
}

describe("stream key rotation", { timeout: 120000 }, () => {
  before(async () => {
    w = await startWharf();
  });
  after(async () => {
    await w?.stop();
  });

  test("POST /v1/streams/{id}/rotate-key: the old key is refused at once, the new one publishes, a live publisher on the old key keeps streaming", async () => {
    const s = (await w.api("POST", "/v1/streams", { name: "rotate", pipeline: "passthrough" })).body;
    const live = pushTestPattern(`${w.rtmp}/${s.streamKey}`, { seconds: 12, size: "320x180" });
    await waitFor("stream live", async () => (await state(s.id)) === "live", 10000);

    const r = await w.api("POST", `/v1/streams/${s.id}/rotate-key`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.notEqual(r.body.streamKey, s.streamKey);
    assert.match(r.body.rtmpUrl, new RegExp(`${r.body.streamKey}$`));
    assert.equal((await w.api("GET", `/v1/streams/${s.id}`)).body.streamKey, r.body.streamKey);
    // The publisher that was live on the old key is not cut off by the rotation.
    await new Promise((res) => setTimeout(res, 2000));
    assert.equal(await state(s.id), "live", "live publisher keeps streaming");
    assert.equal(live.running, true);
    live.child.kill("SIGKILL");
    await waitFor("stream idle", async () => (await state(s.id)) === "idle", 8000);

    assert.notEqual(await briefPush(`${w.rtmp}/${s.streamKey}`), 0, "old key refused");
    const pub = pushTestPattern(`${w.rtmp}/${r.body.streamKey}`, { seconds: 6, size: "320x180" });
    await waitFor("live on the new key", async () => (await state(s.id)) === "live", 10000);
    pub.child.kill("SIGKILL");
    await pub.exited;
  });

  test("only the admin or the owning key may rotate; another key gets 404, a missing stream 404", async () => {
    const owner = (await w.api("POST", "/v1/keys", { name: "owner", scopes: ["streams"] })).body;
    const other = (await w.api("POST", "/v1/keys", { name: "other", scopes: ["streams"] })).body;
    const s = (await w.api("POST", "/v1/streams", { name: "owned", pipeline: "passthrough" }, owner.secret)).body;
    assert.equal((await w.api("POST", `/v1/streams/${s.id}/rotate-key`, undefined, other.secret)).status, 404);
    const mine = await w.api("POST", `/v1/streams/${s.id}/rotate-key`, undefined, owner.secret);
    assert.equal(mine.status, 200);
    assert.notEqual(mine.body.streamKey, s.streamKey);
    assert.equal((await w.api("POST", "/v1/streams/str_nope/rotate-key")).status, 404);
    const audit = await w.api("GET", `/v1/audit?action=stream.key_rotated`);
    assert.ok(JSON.stringify(audit.body).includes(s.id), "rotation is audited");
  });

  test("`wharf streams rotate-key` while the server runs: the old key is refused, the new key works", async () => {
    const s = (await w.api("POST", "/v1/streams", { name: "cli", pipeline: "passthrough" })).body;
    const cli = spawnSync(process.execPath, ["--import", "tsx", "server/cli.ts", "--data-dir", w.dataDir, "--json", "streams", "rotate-key", s.id], { cwd: REPO, encoding: "utf8" });
    assert.equal(cli.status, 0, cli.stderr);
    const fresh = JSON.parse(cli.stdout).streamKey as string;
    assert.notEqual(fresh, s.streamKey);
    assert.notEqual(await briefPush(`${w.rtmp}/${s.streamKey}`), 0, "old key refused");
    const pub = pushTestPattern(`${w.rtmp}/${fresh}`, { seconds: 6, size: "320x180" });
    await waitFor("live on the key the CLI made", async () => (await state(s.id)) === "live", 10000);
    pub.child.kill("SIGKILL");
    await pub.exited;
  });
});
