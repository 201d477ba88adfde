// Signed playback against a real Wharf process: a stream with playbackPolicy jwt plays (playlists
// and segments) with a token from a signing key, and refuses missing (401), expired, and other
// streams' (403) tokens on the playlist and on a segment.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { importPKCS8, SignJWT } from "jose";
import type { FfmpegProcess } from "../../core/ffmpeg.ts";
import { pushTestPattern } from "../support/publisher.ts";
import { waitFor } from "../support/wait.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";

let w: WharfProcess;
let pub: FfmpegProcess | undefined;
let stream: { id: string; hlsUrl: string; rtmpUrl: string };
let privateKey: CryptoKey;
let kid: string;

const sign = (sub: string, expSec: number, key = privateKey, keyId = kid) =>
  new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: keyId }).setSubject(sub).setExpirationTime(Math.floor(Date.now() / 1000) + expSec).sign(key);

const get = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { headers });
  return { status: res.status, text: res.headers.get("content-type")?.includes("mpegurl") ? await res.text() : (await res.arrayBuffer(), ""), headers: res.headers };
};
const uris = (playlist: string) => playlist.split("\n").filter((l) => l && !l.startsWith("#"));

describe("signed playback", { timeout: 120000 }, () => {
  before(async () => {
    w = await startWharf();
    const key = await w.api("POST", "/v1/signing-keys");
    assert.equal(key.status, 201, JSON.stringify(key.body));
    assert.match(key.body.privateKey, /BEGIN PRIVATE KEY/);
    kid = key.body.id;
    privateKey = await importPKCS8(key.body.privateKey, "ES256");
    const listed = await w.api("GET", "/v1/signing-keys");
    assert.equal(listed.body.signingKeys[0].privateKey, undefined, "the private key is shown once");
    const s = await w.api("POST", "/v1/streams", { name: "members-only", pipeline: "passthrough", playbackPolicy: { type: "jwt" } });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    assert.deepEqual(s.body.playbackPolicy, { type: "jwt" });
    stream = s.body;
    pub = pushTestPattern(stream.rtmpUrl, { seconds: 60, size: "320x180" });
  });
  after(async () => {
    await pub?.stop();
    await w?.stop();
  });

  let segmentUrl = "";
  let mediaUrl = "";

  test("a valid token as ?jwt= plays: the playlists' URIs carry it down to the segments", async () => {
    const token = await sign(stream.id, 3600);
    const master = await waitFor("multivariant playlist", async () => {
      const r = await get(`${stream.hlsUrl}?jwt=${token}`);
      return r.status === 200 ? r : undefined;
    }, 20000);
    const rendition = uris(master.text)[0]!;
    assert.ok(rendition.includes(`jwt=${token}`), rendition);
    mediaUrl = new URL(rendition, stream.hlsUrl).toString();
    const media = await waitFor("media playlist with a segment", async () => {
      const r = await get(mediaUrl);
      return r.status === 200 && uris(r.text).length ? r : undefined;
    }, 20000);
    for (const line of media.text.split("\n").filter((l) => l.includes("URI=\""))) assert.match(line, /jwt=/, line);
    const seg = uris(media.text)[0]!;
    assert.ok(seg.includes(`jwt=${token}`), seg);
    segmentUrl = new URL(seg, mediaUrl).toString();
    const s = await get(segmentUrl);
    assert.equal(s.status, 200);
    assert.match(s.headers.get("cache-control") ?? "", /private/);
  });

  test("a valid token in the Livepeer-Jwt header plays too", async () => {
    const token = await sign(stream.id, 3600);
    const bare = (u: string) => u.replace(/[?&]jwt=[^&]*/, "");
    assert.equal((await get(bare(mediaUrl), { "livepeer-jwt": token })).status, 200);
    assert.equal((await get(bare(segmentUrl), { "livepeer-jwt": token })).status, 200);
  });

  test("missing, invalid, expired and other streams' tokens are refused on the playlist and on a segment", async () => {
    const bare = (u: string) => u.replace(/[?&]jwt=[^&]*/, "");
    const other = await w.api("POST", "/v1/signing-keys");
    await w.api("DELETE", `/v1/signing-keys/${other.body.id}`);
    const cases: Array<[string, string | undefined, number]> = [
      ["missing", undefined, 401],
      ["not a JWT", "garbage", 401],
      ["signed by a deleted key", await sign(stream.id, 3600, await importPKCS8(other.body.privateKey, "ES256"), other.body.id), 401],
      ["expired", await sign(stream.id, -60), 403],
      ["for another stream", await sign("some-other-stream", 3600), 403],
    ];
    for (const [label, token, status] of cases) {
      for (const url of [stream.hlsUrl, bare(mediaUrl), bare(segmentUrl)]) {
        const r = await get(token ? `${url}?jwt=${token}` : url);
        assert.equal(r.status, status, `${label}: ${url}`);
      }
    }
    const whep = await fetch(`${w.http}/v1/streams/${stream.id}/whep`, { method: "POST", headers: { "content-type": "application/sdp" }, body: "v=0\r\n" });
    assert.equal(whep.status, 401, "WHEP without a token");
  });

  test("PATCH back to public plays without a token", async () => {
    const r = await w.api("PATCH", `/v1/streams/${stream.id}`, { playbackPolicy: { type: "public" } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await get(stream.hlsUrl)).status, 200);
  });
});
