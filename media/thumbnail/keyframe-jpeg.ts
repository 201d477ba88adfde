// The last keyframe of an MPEG-TS segment as a JPEG, decoded by ffmpeg from the segment's bytes.
import { runFfmpeg } from "../../core/ffmpeg.ts";

/** A 2 s segment decodes its keyframes in well under a second; a stuck ffmpeg must not hold requests. */
const EXTRACT_TIMEOUT_MS = 10_000;
/** JPEG start of image followed by the next marker's 0xFF: cannot occur inside entropy-coded data (0xFF is stuffed there). */
const JPEG_START = Buffer.from([0xff, 0xd8, 0xff]);

/**
 * Only keyframes are decoded (-skip_frame nokey), each written as a JPEG to one pipe; the last one
 * is the answer. A segment holds one or a few keyframes, so this costs about one decode per keyframe.
 */
export async function lastKeyframeJpeg(segment: Buffer): Promise<Buffer> {
  const out = await runFfmpeg(
    [
      "-hide_banner", "-loglevel", "error",
      "-skip_frame", "nokey", "-f", "mpegts", "-i", "pipe:0",
      "-map", "0:v:0", "-an", "-fps_mode", "passthrough",
      "-c:v", "mjpeg", "-q:v", "4", "-f", "image2pipe", "pipe:1",
    ],
    { input: segment, label: "thumbnail", timeoutMs: EXTRACT_TIMEOUT_MS },
  );
  const start = out.lastIndexOf(JPEG_START);
  if (start < 0) throw new Error("the segment has no decodable keyframe");
  return out.subarray(start);
}
