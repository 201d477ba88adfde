// ffmpeg publishers for e2e tests: an RTMP push of a test pattern with a tone (1 s GOP).
import { spawnFfmpeg, type FfmpegProcess } from "../../core/ffmpeg.ts";

export interface PushOptions {
  seconds?: number;
  size?: string;
  fps?: number;
  /** Draw the running frame number (for content checks). */
  overlay?: boolean;
}

export function pushTestPattern(url: string, opts: PushOptions = {}): FfmpegProcess {
  const fps = opts.fps ?? 30;
  const args = [
    "-hide_banner", "-loglevel", "error", "-re",
    "-f", "lavfi", "-i", `testsrc2=size=${opts.size ?? "640x360"}:rate=${fps}`,
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    ...(opts.seconds ? ["-t", String(opts.seconds)] : []),
    ...(opts.overlay ? ["-vf", "drawtext=text='%{n}':x=10:y=10:fontsize=40:fontcolor=white:box=1:boxcolor=black"] : []),
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
    "-g", String(fps), "-keyint_min", String(fps), "-sc_threshold", "0", "-b:v", "1000k",
    "-c:a", "aac", "-b:a", "64k", "-ar", "48000",
    "-f", "flv", url,
  ];
  return spawnFfmpeg(args, { label: "test publisher" });
}
