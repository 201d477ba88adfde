// The MP4 of a recording: its VOD playlist remuxed by ffmpeg (-c copy, no re-encoding), moov atom first.
import { rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { runFfmpeg } from "../../core/ffmpeg.ts";

export const PLAYLIST_FILE = "index.m3u8";
export const MP4_FILE = "recording.mp4";
/** Remuxing reads and writes each byte once: minutes even for hours of media; beyond this something hangs. */
const MP4_TIMEOUT_MS = 30 * 60_000;

/** Writes <dir>/recording.mp4 from <dir>/index.m3u8; returns its size in bytes. */
export async function remuxToMp4(dir: string): Promise<number> {
  const tmp = join(dir, `${MP4_FILE}.part`);
  try {
    await runFfmpeg(
      [
        "-hide_banner", "-loglevel", "error", "-y",
        "-protocol_whitelist", "file",
        "-i", join(dir, PLAYLIST_FILE),
        "-map", "0", "-c", "copy",
        // ADTS AAC (as in MPEG-TS) becomes the AudioSpecificConfig MP4 needs.
        "-bsf:a", "aac_adtstoasc",
        "-movflags", "+faststart",
        "-f", "mp4", tmp,
      ],
      { label: "recording mp4", timeoutMs: MP4_TIMEOUT_MS },
    );
    await rename(tmp, join(dir, MP4_FILE));
    return (await stat(join(dir, MP4_FILE))).size;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
