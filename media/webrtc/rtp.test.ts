import { test } from "node:test";
import assert from "node:assert/strict";
import { h264PayloadIsKeyframe, RtpRewriter, rtpSeq, rtpTimestamp } from "./rtp.ts";
import { narrowOffer, SdpError } from "./sdp.ts";

function packet(seq: number, ts: number): Buffer {
  const b = Buffer.alloc(20);
  b[0] = 0x80;
  b[1] = 96;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  return b;
}

test("rewriter keeps spacing within a generation and continues across generations", () => {
  let now = 1000;
  const rw = new RtpRewriter(90000, 3000, () => now);
  const a = rw.rewrite(packet(65534, 4294967000), 1);
  assert.equal(rtpSeq(a), 65534);
  const b = rw.rewrite(packet(65535, 4294967000 + 3000 - 2 ** 32 + 2 ** 32), 1);
  assert.equal(rtpSeq(b), 65535);
  const c = rw.rewrite(packet(0, 2704), 1); // wrapped upstream
  assert.equal(rtpSeq(c), 0);
  now += 500;
  // Upstream restarts with unrelated numbers: continue at +1 and +elapsed (500 ms = 45000 ticks).
  const d = rw.rewrite(packet(12345, 777), 2);
  assert.equal(rtpSeq(d), 1);
  assert.equal(rtpTimestamp(d), (2704 + 45000) >>> 0);
  const e = rw.rewrite(packet(12346, 777 + 3000), 2);
  assert.equal(rtpSeq(e), 2);
  assert.equal(rtpTimestamp(e), 2704 + 45000 + 3000);
});

test("H.264 keyframe detection: IDR, STAP-A with SPS, FU-A start", () => {
  assert.ok(h264PayloadIsKeyframe(Buffer.from([0x65, 1, 2])));
  assert.ok(h264PayloadIsKeyframe(Buffer.from([0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce])));
  assert.ok(h264PayloadIsKeyframe(Buffer.from([0x7c, 0x85, 0])));
  assert.ok(!h264PayloadIsKeyframe(Buffer.from([0x7c, 0x05, 0])));
  assert.ok(!h264PayloadIsKeyframe(Buffer.from([0x41, 0])));
});

const OFFER = [
  "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103", "c=IN IP4 0.0.0.0", "a=mid:0", "a=sendonly",
  "a=ice-ufrag:abcd", "a=ice-pwd:0123456789012345678901", "a=fingerprint:sha-256 AA:BB", "a=setup:actpass",
  "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 transport-cc", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
  "a=rtpmap:102 H264/90000", "a=rtcp-fb:102 transport-cc", "a=rtcp-fb:102 nack pli",
  "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
  "a=rtpmap:103 rtx/90000", "a=fmtp:103 apt=102",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111 63", "c=IN IP4 0.0.0.0", "a=mid:1", "a=sendonly",
  "a=ice-ufrag:abcd", "a=ice-pwd:0123456789012345678901", "a=fingerprint:sha-256 AA:BB", "a=setup:actpass",
  "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1", "a=rtpmap:63 red/48000/2",
].join("\r\n");

test("offers are narrowed to H.264 (+RTX) and Opus, REMB instead of transport-cc", () => {
  const n = narrowOffer(OFFER, "whip");
  assert.equal(n.video?.codec, "H264");
  assert.equal(n.video?.payloadType, 102);
  assert.equal(n.audio?.payloadType, 111);
  assert.match(n.sdp, /m=video 9 UDP\/TLS\/RTP\/SAVPF 102 103\r\n/);
  assert.match(n.sdp, /m=audio 9 UDP\/TLS\/RTP\/SAVPF 111\r\n/);
  assert.ok(!/transport-cc/.test(n.sdp));
  assert.match(n.sdp, /a=rtcp-fb:102 goog-remb/);
  assert.ok(!/VP8|red\//.test(n.sdp));
  // Without H.264, WHIP takes VP8; WHEP refuses.
  const vp8Only = OFFER.replace(/ 102 103/, "").replace(/a=rtpmap:102[^\r]*\r\n/, "");
  assert.equal(narrowOffer(vp8Only, "whip").video?.codec, "VP8");
  assert.throws(() => narrowOffer(vp8Only.replace(/a=sendonly/g, "a=recvonly"), "whep"), SdpError);
  for (const bad of ["", "x", "v=0\r\n", OFFER.replace(/a=ice-pwd[^\r]*\r\n/g, ""), OFFER.replace("m=video 9", "m=video x")]) {
    assert.throws(() => narrowOffer(bad, "whip"), SdpError, JSON.stringify(bad.slice(0, 20)));
  }
});

test("WHIP answers carry Chromium start/max bitrate hints on video payloads only", async () => {
  const { withVideoBitrateHints } = await import("./sdp.ts");
  const sdp = [
    "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98", "a=rtpmap:96 H264/90000", "a=fmtp:96 packetization-mode=1;profile-level-id=42e01f",
    "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96", "a=rtpmap:98 VP8/90000", "",
  ].join("\r\n");
  const out = withVideoBitrateHints(sdp, 2000, 6000);
  assert.match(out, /a=fmtp:96 packetization-mode=1;profile-level-id=42e01f;x-google-start-bitrate=2000;x-google-max-bitrate=6000\r\n/);
  assert.match(out, /a=fmtp:97 apt=96\r\n/);
  assert.match(out, /a=fmtp:98 x-google-start-bitrate=2000;x-google-max-bitrate=6000\r\n/);
  assert.match(out, /a=fmtp:111 minptime=10;useinbandfec=1\r\n/);
  assert.ok(out.endsWith("\r\n"));
});
