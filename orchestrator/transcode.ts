// Transcode one MPEG-TS segment into the requested profiles with one ffmpeg
// run (libx264, timestamps kept with -copyts so renditions align with the
// source for HLS, a keyframe on the first frame, MPEG-TS out).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runFfmpeg } from "../core/ffmpeg.ts";
import { TsFrameCounter } from "../core/mpegts/frame-counter.ts";
import { GOP_INTRA_ONLY } from "../protocol/profiles.ts";
import { VideoCodec, VideoFormat, VideoProfileLevel, type VideoProfile } from "../protocol/messages.ts";

export interface TranscodedOutput {
  profile: VideoProfile;
  data: Buffer;
  /** Output pixels: the rendition's frame size x the frames it holds (what a paid orchestrator debits). */
  pixels: number;
}

export class UnsupportedProfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedProfileError";
  }
}

const X264_PROFILES: Record<number, string | undefined> = {
  [VideoProfileLevel.ENCODER_DEFAULT]: undefined,
  [VideoProfileLevel.H264_BASELINE]: "baseline",
  [VideoProfileLevel.H264_MAIN]: "main",
  [VideoProfileLevel.H264_HIGH]: "high",
  [VideoProfileLevel.H264_CONSTRAINED_HIGH]: "high",
};

function even(n: number): number {
  return Math.max(2, Math.round(n / 2) * 2);
}

/** ffmpeg output arguments for one profile. */
export function profileArgs(p: VideoProfile, outPath: string, preset: string): string[] {
  if ((p.encoder ?? VideoCodec.H264) !== VideoCodec.H264) throw new UnsupportedProfileError(`encoder ${p.encoder} not supported`);
  if ((p.format ?? VideoFormat.MPEGTS) !== VideoFormat.MPEGTS) throw new UnsupportedProfileError("only MPEG-TS output is supported");
  const w = p.width ?? 0;
  const h = p.height ?? 0;
  if (w <= 0 || h <= 0 || w > 7680 || h > 7680) throw new UnsupportedProfileError(`bad resolution ${w}x${h}`);
  const filters = [`scale=${even(w)}:${even(h)}`];
  const fps = p.fps ?? 0;
  const fpsDen = p.fpsDen || 1;
  if (fps > 0) filters.push(`fps=${fps}/${fpsDen}`);
  const bitrate = Math.max(16_000, p.bitrate ?? 0);
  const args = [
    "-map", "0:v:0", "-map", "0:a?",
    "-c:v", "libx264", "-preset", preset, "-tune", "zerolatency",
    "-b:v", String(bitrate), "-maxrate", String(bitrate), "-bufsize", String(bitrate * 2),
    "-vf", filters.join(","),
    "-pix_fmt", "yuv420p",
  ];
  const x264Profile = X264_PROFILES[p.profile ?? 0];
  if (x264Profile) args.push("-profile:v", x264Profile);
  // Fast presets turn CABAC / 8x8 transforms off, which x264 then signals as Baseline:
  // turn on what the requested profile is about.
  if (p.profile === VideoProfileLevel.H264_MAIN) args.push("-x264-params", "cabac=1");
  if (p.profile === VideoProfileLevel.H264_HIGH || p.profile === VideoProfileLevel.H264_CONSTRAINED_HIGH) args.push("-x264-params", "cabac=1:8x8dct=1");
  if (p.profile === VideoProfileLevel.H264_CONSTRAINED_HIGH || p.profile === VideoProfileLevel.H264_BASELINE) args.push("-bf", "0");
  const gop = p.gop ?? 0;
  if (gop === GOP_INTRA_ONLY) {
    args.push("-g", "1");
  } else if (gop > 0) {
    const frameRate = fps > 0 ? fps / fpsDen : 30;
    args.push("-g", String(Math.max(1, Math.round((gop / 1000) * frameRate))), "-force_key_frames", "expr:eq(n,0)");
  } else {
    args.push("-force_key_frames", "expr:eq(n,0)");
  }
  args.push("-c:a", "copy", "-muxdelay", "0", "-muxpreload", "0", "-f", "mpegts", outPath);
  return args;
}

export interface TranscodeOptions {
  /** x264 preset (default veryfast; tests use ultrafast). */
  preset?: string;
  timeoutMs?: number;
  /** Segment duration (ms): unused since pixels are counted from the output frames; kept for callers. */
  durationMs?: number;
}

/** Transcode `input` (MPEG-TS) into each profile, in order. */
export async function transcodeSegment(input: Buffer, profiles: readonly VideoProfile[], opts: TranscodeOptions = {}): Promise<TranscodedOutput[]> {
  if (profiles.length === 0) return [];
  const dir = await mkdtemp(join(tmpdir(), "wharf-orch-"));
  try {
    const preset = opts.preset ?? "veryfast";
    const outs = profiles.map((_, i) => join(dir, `out${i}.ts`));
    const args = ["-hide_banner", "-loglevel", "error", "-copyts", "-f", "mpegts", "-i", "pipe:0"];
    profiles.forEach((p, i) => args.push(...profileArgs(p, outs[i]!, preset)));
    await runFfmpeg(args, { input, timeoutMs: opts.timeoutMs ?? 30_000, label: "transcode" });
    return await Promise.all(
      profiles.map(async (p, i) => {
        const data = await readFile(outs[i]!);
        // Counted, not estimated from the duration the gateway declares (go reports encoded pixels).
        const frames = new TsFrameCounter();
        frames.write(data);
        return { profile: p, data, pixels: even(p.width ?? 0) * even(p.height ?? 0) * frames.frames };
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
