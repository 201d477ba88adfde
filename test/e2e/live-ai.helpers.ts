// Shared helpers of the live AI end-to-end tests (not a test file itself).
import assert from "node:assert/strict";
import { runFfmpeg, spawnFfmpeg, type FfmpegProcess } from "../../core/ffmpeg.ts";
import { request } from "undici";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import type { WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";

export const SIZE = "320x240";

/** Two development orchestrators serving only live AI, with the /wharf/live/faults knob. */
export function faultableLiveOrchestrators(): Promise<[OrchestratorProcess, OrchestratorProcess]> {
  const start = () => startOrchestratorProcess(["--no-ai", "--live-faults", "--live-events-ms", "1000"], { http: true });
  return Promise.all([start(), start()]);
}

/** Sets a faultable orchestrator's live faults (e.g. `{stallOutput: true}`). */
export async function setLiveFaults(o: OrchestratorProcess, faults: Record<string, boolean>): Promise<void> {
  const res = await request(`${o.url}/wharf/live/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(faults) });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
}

/** RTMP push of SMPTE bars (a known picture) with a tone, 1 s GOP. */
export function pushBars(url: string, seconds?: number): FfmpegProcess {
  return spawnFfmpeg(
    [
      "-hide_banner", "-loglevel", "error", "-re",
      "-f", "lavfi", "-i", `smptebars=size=${SIZE}:rate=30`,
      "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
      ...(seconds ? ["-t", String(seconds)] : []),
      "-vf", "drawbox=x='mod(t*120,300)':y=200:w=20:h=20:color=white:t=fill",
      "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
      "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-b:v", "800k",
      "-c:a", "aac", "-b:a", "64k", "-ar", "48000",
      "-f", "flv", url,
    ],
    { label: "live test publisher" },
  );
}

export async function createLiveStream(w: WharfProcess, modelId = "noop", params: Record<string, unknown> = {}) {
  const res = await w.api("POST", "/v1/streams", { name: `live-${modelId}`, pipeline: "live-video-to-video", modelId, params });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; rtmpUrl: string; hlsUrl: string; whepUrl: string };
}

export async function liveStatus(w: WharfProcess, id: string): Promise<any> {
  const res = await w.api("GET", `/v1/streams/${id}/status`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.processor;
}

export interface MediaEntry {
  uri: string;
  duration: number;
  pdt: number;
  discontinuity: boolean;
}

/** The "ai" media playlist parsed (undefined until it exists). */
export async function aiPlaylist(hlsUrl: string): Promise<{ text: string; entries: MediaEntry[]; url: string } | undefined> {
  const url = new URL("ai/index.m3u8", hlsUrl).toString();
  const res = await fetch(url);
  if (!res.ok) return undefined;
  const text = await res.text();
  const entries: MediaEntry[] = [];
  let pdt = 0;
  let duration = 0;
  let disc = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) pdt = Date.parse(line.slice(25));
    else if (line.startsWith("#EXTINF:")) duration = Number(line.slice(8).split(",")[0]);
    else if (line === "#EXT-X-DISCONTINUITY") disc = true;
    else if (line && !line.startsWith("#")) {
      entries.push({ uri: new URL(line, url).toString(), duration, pdt, discontinuity: disc });
      disc = false;
    }
  }
  return { text, entries, url };
}

export async function waitForSegments(hlsUrl: string, n: number, timeoutMs = 20000): Promise<MediaEntry[]> {
  return waitFor(`${n} ai segments`, async () => {
    const p = await aiPlaylist(hlsUrl);
    return p && p.entries.length >= n ? p.entries : undefined;
  }, timeoutMs, 150);
}

export async function fetchBytes(uri: string): Promise<Buffer> {
  const res = await fetch(uri);
  assert.equal(res.status, 200, `GET ${uri}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Average U, V and saturation of a segment's first frames; U=V=128 and saturation 0 = no colour. */
export async function chroma(segment: Buffer): Promise<{ u: number; v: number; y: number; sat: number }> {
  const out = await runFfmpeg(
    ["-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-frames:v", "5", "-vf", "signalstats,metadata=print:file=-", "-f", "null", "-"],
    { input: segment, timeoutMs: 20000 },
  );
  const text = out.toString();
  const avg = (key: string) => {
    const vals = [...text.matchAll(new RegExp(`lavfi\\.signalstats\\.${key}=([\\d.]+)`, "g"))].map((m) => Number(m[1]));
    assert.ok(vals.length > 0, `signalstats ${key} in ${text.slice(0, 200)}`);
    return vals.reduce((a, b) => a + b, 0) / vals.length;
  };
  return { u: avg("UAVG"), v: avg("VAVG"), y: avg("YAVG"), sat: avg("SATAVG") };
}

/** PSNR (dB) of a segment's first frames against the SMPTE bars the publisher draws (the moving box row cropped off). */
export async function psnrAgainstBars(segment: Buffer): Promise<number> {
  const proc = spawnFfmpeg(
    [
      "-hide_banner", "-loglevel", "info", "-i", "pipe:0",
      "-f", "lavfi", "-i", `smptebars=size=${SIZE}:rate=30`,
      "-lavfi", "[0:v]crop=iw:180:0:0,format=yuv420p[a];[1:v]crop=iw:180:0:0,format=yuv420p[b];[a][b]psnr",
      "-frames:v", "3", "-f", "null", "-",
    ],
    { label: "psnr" },
  );
  proc.stdout.resume();
  proc.stdin.end(segment);
  await proc.exited;
  const m = /average:([\d.]+|inf)/.exec(proc.stderrTail());
  assert.ok(m, `psnr output: ${proc.stderrTail().slice(-300)}`);
  return m[1] === "inf" ? 100 : Number(m[1]);
}

/** Waits until `n` segments that started after `afterPdt` (ms) are listed (the playlist window slides). */
export async function waitForNewSegments(hlsUrl: string, afterPdt: number, n: number, timeoutMs = 15000): Promise<MediaEntry[]> {
  return waitFor(`${n} new ai segments`, async () => {
    const p = await aiPlaylist(hlsUrl);
    const fresh = p?.entries.filter((e) => e.pdt > afterPdt) ?? [];
    return fresh.length >= n ? fresh : undefined;
  }, timeoutMs, 150);
}
