// The RTMP server with librtmp, the client library inside OBS (skipped where gcc or librtmp headers are missing).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runFfmpeg } from "../../core/ffmpeg.ts";
import { RtmpServer, type RtmpMedia } from "./server.ts";

// librtmp's RTMP_Write path, as OBS uses it: it sends connect, releaseStream, FCPublish,
// createStream, publish, compresses chunk headers to types 1-3 and wraps metadata in
// @setDataFrame. The FLV is paced by its timestamps like a live encoder.
const PUBLISHER_C = String.raw`
#include <librtmp/rtmp.h>
#include <librtmp/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static long long now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000LL + t.tv_nsec / 1000000; }
int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: pub URL FILE.flv\n"); return 2; }
  FILE *f = fopen(argv[2], "rb");
  if (!f) return 2;
  fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(n);
  if (fread(b, 1, n, f) != (size_t)n) return 2;
  RTMP_LogSetLevel(RTMP_LOGERROR);
  RTMP *r = RTMP_Alloc(); RTMP_Init(r);
  if (!RTMP_SetupURL(r, argv[1])) return 3;
  RTMP_EnableWrite(r);
  if (!RTMP_Connect(r, NULL)) { fprintf(stderr, "connect failed\n"); return 4; }
  if (!RTMP_ConnectStream(r, 0)) { fprintf(stderr, "publish refused\n"); return 5; }
  long pos = 13; long long t0 = now_ms(); int first = 1;
  while (pos + 11 <= n) {
    long size = (b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3];
    long ts = ((b[pos + 4] << 16) | (b[pos + 5] << 8) | b[pos + 6]) | (b[pos + 7] << 24);
    long len = 11 + size + 4;
    if (pos + len > n) break;
    long long wait = t0 + ts - now_ms();
    if (wait > 0) usleep(wait * 1000);
    unsigned char *start = first ? b : b + pos;      /* FLV header goes with the first tag */
    long total = first ? pos + len : len;
    first = 0;
    if (RTMP_Write(r, (char *)start, total) <= 0 || !RTMP_IsConnected(r)) { fprintf(stderr, "write failed\n"); return 6; }
    pos += len;
  }
  RTMP_Close(r); RTMP_Free(r);
  return 0;
}
`;

const available = existsSync("/usr/include/librtmp/rtmp.h") && (() => {
  try {
    execFileSync("gcc", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
const skip = available ? false : "needs gcc and librtmp headers (Debian: librtmp-dev)";

const KEY = "sk_obs_librtmp_key";
let dir = "";
let server: RtmpServer;
let refuse = false;
let media: RtmpMedia[] = [];
let closes = 0;

function publish(url: string): Promise<{ code: number | null; ms: number; stderr: string }> {
  const t0 = Date.now();
  const child = spawn(join(dir, "pub"), [url, join(dir, "in.flv")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, ms: Date.now() - t0, stderr })));
}

before(async () => {
  if (!available) return;
  dir = mkdtempSync(join(tmpdir(), "wharf-librtmp-"));
  writeFileSync(join(dir, "pub.c"), PUBLISHER_C);
  execFileSync("gcc", ["-O1", "-o", join(dir, "pub"), join(dir, "pub.c"), "-lrtmp"]);
  await runFfmpeg([
    "-hide_banner", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac", "-ar", "48000",
    "-f", "flv", join(dir, "in.flv"),
  ]);
  server = new RtmpServer({
    host: "127.0.0.1",
    port: 0,
    onPublish: async (req, publisher) => {
      if (refuse || req.name !== KEY) return "unknown stream key";
      publisher.onMedia((m) => media.push(m));
      publisher.onClose(() => closes++);
      return true;
    },
  });
  await server.start();
});

after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a librtmp (OBS) publisher streams 3 s: complete, ordered media; metadata without @setDataFrame", { skip, timeout: 30000 }, async () => {
  media = [];
  const { code, stderr } = await publish(`rtmp://127.0.0.1:${server.port}/live/${KEY}`);
  assert.equal(code, 0, stderr);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(closes, 1);
  assert.equal(media[0]?.kind, "script");
  assert.ok(media[0]!.data.subarray(0, 13).equals(Buffer.from("02000a6f6e4d65746144617461", "hex")), "starts with onMetaData");
  const video = media.filter((m) => m.kind === "video" && m.data[1] === 1);
  const audio = media.filter((m) => m.kind === "audio" && m.data[1] === 1);
  assert.ok(video.length >= 88 && video.length <= 92, `${video.length} video frames`);
  assert.ok(audio.length >= 135 && audio.length <= 145, `${audio.length} audio frames`);
  for (const list of [video, audio]) {
    for (let i = 1; i < list.length; i++) assert.ok(list[i]!.timestampMs >= list[i - 1]!.timestampMs, `timestamps go back at #${i}`);
  }
  assert.ok(video.at(-1)!.timestampMs > 2900 && video.at(-1)!.timestampMs < 3100);
});

test("a refused librtmp publisher fails fast", { skip, timeout: 30000 }, async () => {
  refuse = true;
  try {
    const { code, ms } = await publish(`rtmp://127.0.0.1:${server.port}/live/${KEY}`);
    assert.notEqual(code, 0);
    assert.ok(ms < 3000, `took ${ms} ms`);
  } finally {
    refuse = false;
  }
});
