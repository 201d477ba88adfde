// An ffmpeg RTMP publisher of a short H.264+AAC test pattern, for the RTMP server's tests.
import { spawnFfmpeg, type FfmpegProcess } from "../../core/ffmpeg.ts";

/** Pushes `seconds` of a 320x240 30 fps pattern with a tone (1 s GOP) to url in real time. */
export function pushWithFfmpeg(url: string, seconds: number, extra: string[] = []): FfmpegProcess {
  return spawnFfmpeg([
    "-hide_banner", "-loglevel", "error", "-re",
    "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-t", String(seconds), ...extra,
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", "30",
    "-c:a", "aac", "-b:a", "64k", "-ar", "48000",
    "-f", "flv", url,
  ], { label: "rtmp test publisher" });
}
