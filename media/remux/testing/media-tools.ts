// Test helper: encodes short clips with ffmpeg, runs the remuxer over them, and reads results back with ffprobe.
import { runFfmpeg, spawnFfmpeg } from "../../../core/ffmpeg.ts";
import { FlvToTs, type FlvToTsOptions } from "../flv-to-ts.ts";
import type { MediaMessage } from "../media-message.ts";

export interface ProbePacket {
  codec_type: "video" | "audio";
  stream_index: number;
  pts?: number;
  dts?: number;
  duration?: number;
  size: string;
  flags: string;
  data?: string;
}

export interface ProbeStreamInfo {
  index: number;
  codec_type: string;
  codec_name: string;
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
  pix_fmt?: string;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  time_base: string;
  start_pts?: number;
  extradata?: string;
}

export interface ProbeJson {
  streams: ProbeStreamInfo[];
  packets?: ProbePacket[];
  frames?: Array<{ media_type: string; width?: number; height?: number; key_frame: number; pts?: number }>;
}

const clipCache = new Map<string, Promise<Buffer>>();

/** Encodes lavfi test sources with the given arguments to one container on stdout (cached per process). */
export function encode(args: string[], format = "flv"): Promise<Buffer> {
  const key = JSON.stringify([args, format]);
  let p = clipCache.get(key);
  if (!p) {
    p = runFfmpeg(["-hide_banner", "-loglevel", "error", ...args, "-f", format, "pipe:1"], { timeoutMs: 120_000 });
    clipCache.set(key, p);
  }
  return p;
}

/** ffprobe a buffer (stdin) as JSON. */
export async function probe(input: Buffer, args: string[], format?: string): Promise<ProbeJson> {
  const out = await runFfmpeg(
    ["-v", "error", "-of", "json", ...(format ? ["-f", format] : []), ...args, "pipe:0"],
    { binary: "ffprobe", input, timeoutMs: 60_000 },
  );
  return JSON.parse(out.toString("utf8")) as ProbeJson;
}

/** Decodes the input fully; returns ffmpeg's warnings and errors (empty when it decoded cleanly). */
export async function decodeErrors(input: Buffer, format = "mpegts", outputArgs: string[] = []): Promise<string> {
  const proc = spawnFfmpeg(["-hide_banner", "-nostdin", "-v", "warning", "-f", format, "-i", "pipe:0", ...outputArgs, "-f", "null", "-"], { label: "decode" });
  proc.stdout.resume();
  proc.stdin.end(input);
  const { code } = await proc.exited;
  const err = proc.stderrTail().trim();
  return code === 0 ? err : `exit ${code}: ${err}`;
}

export interface RemuxResult {
  ts: Buffer;
  chunks: Buffer[];
  warnings: string[];
  remuxer: FlvToTs;
}

export function remux(messages: MediaMessage[], opts: Partial<FlvToTsOptions> = {}): RemuxResult {
  const chunks: Buffer[] = [];
  const warnings: string[] = [];
  const remuxer = new FlvToTs({ onData: (c) => chunks.push(c), onWarning: (w) => warnings.push(w), ...opts });
  for (const m of messages) remuxer.write(m);
  return { ts: Buffer.concat(chunks), chunks, warnings, remuxer };
}

/** Parses "30/1"-style rates. */
export function rate(r: string | undefined): number | undefined {
  if (!r) return undefined;
  const [n, d] = r.split("/").map(Number);
  return n && d ? n / d : undefined;
}
