// Source properties (codecs, resolution, frame rate) from the first segment of a session.
import { ffprobe, type ProbeStream } from "../../core/ffmpeg.ts";
import type { LiveSegment } from "../../core/live-segment.ts";
import type { SourceInfo } from "./types.ts";

const H264_PROFILE_IDC: Record<string, [number, number]> = {
  "Constrained Baseline": [0x42, 0xe0],
  Baseline: [0x42, 0x00],
  Main: [0x4d, 0x40],
  Extended: [0x58, 0x00],
  High: [0x64, 0x00],
  "High 10": [0x6e, 0x00],
  "High 4:2:2": [0x7a, 0x00],
};

/** RFC 6381 codec string for an H.264 stream, e.g. avc1.64001f. */
export function avcCodecString(profile: string | undefined, level: number | undefined): string {
  const [idc, constraints] = H264_PROFILE_IDC[profile ?? ""] ?? [0x64, 0x00];
  const lvl = level && level > 0 ? level : 31;
  return "avc1." + [idc, constraints, lvl].map((n) => n.toString(16).padStart(2, "0")).join("");
}

function parseRate(rate: string | undefined): number | undefined {
  if (!rate) return undefined;
  const [n, d] = rate.split("/").map(Number);
  if (!n || !d) return undefined;
  return Math.round((n / d) * 100) / 100;
}

export function codecsFor(video?: ProbeStream, audio?: ProbeStream): string {
  const parts: string[] = [];
  if (video?.codec_name === "h264") parts.push(avcCodecString(video.profile, video.level));
  else if (video?.codec_name === "hevc") parts.push("hvc1.1.6.L93.B0");
  if (audio?.codec_name === "aac") parts.push("mp4a.40.2");
  else if (audio?.codec_name === "mp3") parts.push("mp4a.40.34");
  else if (audio?.codec_name === "opus") parts.push("opus");
  return parts.join(",");
}

export async function probeSource(segment: LiveSegment): Promise<SourceInfo> {
  const probe = await ffprobe(await segment.bytes());
  const video = probe.streams.find((s) => s.codec_type === "video");
  const audio = probe.streams.find((s) => s.codec_type === "audio");
  return {
    videoCodec: video?.codec_name,
    videoProfile: video?.profile,
    width: video?.width,
    height: video?.height,
    fps: parseRate(video?.avg_frame_rate) ?? parseRate(video?.r_frame_rate),
    audioCodec: audio?.codec_name,
    audioSampleRate: audio?.sample_rate ? Number(audio.sample_rate) : undefined,
    audioChannels: audio?.channels,
    hlsCodecs: codecsFor(video, audio),
  };
}
