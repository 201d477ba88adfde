// Stream facts (codecs, size, profile/level, frame rate, audio rate/channels) read from RTMP sequence headers instead of ffprobe.
import type { SourceInfo } from "../hub/types.ts";
import { parseAacConfig } from "./aac-config.ts";
import { parseAvcConfig } from "./avc-config.ts";
import { parseAudioTag, parseVideoTag } from "./flv-tag.ts";
import { h264ProfileName, h264VuiFps, parseH264Sps } from "./h264-sps.ts";
import { parseHevcConfig } from "./hevc-config.ts";
import { hevcCodecString, hevcProfileName, parseHevcSps, parseHevcVpsTiming } from "./hevc-params.ts";
import type { MediaMessage } from "./media-message.ts";
import { parseMp3Header } from "./mp3-header.ts";
import { delta32 } from "./timeline.ts";

/** SourceInfo (the shape the hub uses) plus what the sequence headers tell beyond it. */
export interface StreamFacts extends SourceInfo {
  videoLevel?: number;
  videoBitDepth?: number;
  /** 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4. */
  videoChromaFormat?: number;
  /** Where fps came from: the bitstream's timing info, or the frame timestamps. */
  fpsSource?: "vui" | "timestamps";
  /** RFC 6381 codec strings of each track. */
  videoCodecString?: string;
  audioCodecString?: string;
  audioProfile?: string;
}

export interface VideoFacts {
  videoCodec: "h264" | "hevc";
  videoProfile: string;
  videoLevel: number;
  width: number;
  height: number;
  videoBitDepth: number;
  videoChromaFormat: number;
  videoCodecString: string;
  /** From VUI/VPS timing info, when signalled and plausible (1..240). */
  fps?: number;
}

export interface AudioFacts {
  audioCodec: "aac" | "mp3";
  audioSampleRate: number;
  audioChannels: number;
  audioCodecString: string;
  audioProfile?: string;
}

const hex2 = (n: number): string => n.toString(16).padStart(2, "0");
const round2 = (n: number): number => Math.round(n * 100) / 100;
const plausibleFps = (fps: number): number | undefined => (fps >= 1 && fps <= 240 ? round2(fps) : undefined);

/** Facts of an H.264 avcC or HEVC hvcC sequence header. Throws on a malformed record. */
export function videoFactsFromConfig(codec: "h264" | "hevc", record: Buffer): VideoFacts {
  if (codec === "h264") {
    const spsNal = parseAvcConfig(record).sps[0]!;
    const sps = parseH264Sps(spsNal);
    const fps = h264VuiFps(sps);
    return {
      videoCodec: "h264",
      videoProfile: h264ProfileName(sps.profileIdc, sps.constraintFlags),
      videoLevel: sps.levelIdc,
      width: sps.width,
      height: sps.height,
      videoBitDepth: sps.bitDepthLuma,
      videoChromaFormat: sps.chromaFormatIdc,
      videoCodecString: `avc1.${hex2(sps.profileIdc)}${hex2(sps.constraintFlags)}${hex2(sps.levelIdc)}`,
      fps: fps === undefined ? undefined : round2(fps),
    };
  }
  const cfg = parseHevcConfig(record);
  const sps = parseHevcSps(cfg.sps[0]!);
  let fps = sps.timing ? plausibleFps(sps.timing.timeScale / sps.timing.numUnitsInTick) : undefined;
  for (const vps of fps === undefined ? cfg.vps : []) {
    try {
      const t = parseHevcVpsTiming(vps);
      if (t) fps = plausibleFps(t.timeScale / t.numUnitsInTick);
    } catch {
      // An unreadable VPS only costs the signalled frame rate.
    }
  }
  return {
    videoCodec: "hevc",
    videoProfile: hevcProfileName(sps.ptl.profileIdc, sps.ptl.compatibilityFlags),
    videoLevel: sps.ptl.levelIdc,
    width: sps.width,
    height: sps.height,
    videoBitDepth: sps.bitDepthLuma,
    videoChromaFormat: sps.chromaFormatIdc,
    videoCodecString: hevcCodecString(sps.ptl),
    fps,
  };
}

const AAC_PROFILES: Record<number, string> = { 1: "Main", 2: "LC", 3: "SSR", 4: "LTP", 5: "HE-AAC", 29: "HE-AACv2", 23: "LD", 39: "ELD" };

/** Facts of an AAC AudioSpecificConfig. Throws on a malformed one. */
export function aacFacts(asc: Buffer): AudioFacts {
  const c = parseAacConfig(asc);
  return {
    audioCodec: "aac",
    audioSampleRate: c.sampleRate,
    audioChannels: c.channels,
    audioCodecString: `mp4a.40.${c.objectType}`,
    audioProfile: AAC_PROFILES[c.objectType],
  };
}

const COMMON_RATES = [23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60, 100, 119.88, 120];

/** Frame rate from `frames` frame timestamps spanning `spanMs`, snapped to a common rate within 0.5%. */
export function fpsFromSpan(frames: number, spanMs: number): number | undefined {
  if (frames < 2 || spanMs <= 0) return undefined;
  const fps = ((frames - 1) * 1000) / spanMs;
  let best: number | undefined;
  for (const r of COMMON_RATES) {
    if (Math.abs(fps - r) / r < 0.005 && (best === undefined || Math.abs(fps - r) < Math.abs(fps - best))) best = r;
  }
  return best ?? plausibleFps(fps);
}

export interface CodecFactsOptions {
  /** Video frames to average over when the bitstream signals no frame rate. Default 60. */
  fpsFrames?: number;
}

/**
 * Collects stream facts from RTMP messages as they arrive: codec, size, profile and level from the
 * video sequence header, sample rate and channels from the audio one, frame rate from the SPS/VPS
 * timing info or else from the first frames' timestamps. A new sequence header (encoder restart)
 * replaces the facts of its track.
 */
export class CodecFacts {
  private video?: VideoFacts;
  private audio?: AudioFacts;
  private videoConfig?: Buffer;
  private audioConfig?: Buffer;
  private estimatedFps?: number;
  private firstTs?: number;
  private lastTs = 0;
  private frames = 0;
  private spanMs = 0;
  private readonly fpsFrames: number;
  /** Last error reading a header (for logs); facts of that track stay as they were. */
  lastError?: string;

  constructor(opts: CodecFactsOptions = {}) {
    this.fpsFrames = Math.max(2, opts.fpsFrames ?? 60);
  }

  /** Reads one message; true when the facts changed. */
  observe(msg: MediaMessage): boolean {
    if (msg.kind === "video") return this.observeVideo(msg);
    if (msg.kind === "audio") return this.observeAudio(msg);
    return false;
  }

  /** True once each track seen has its facts, including the video frame rate. */
  get ready(): boolean {
    return (this.video !== undefined || this.audio !== undefined) && (!this.video || this.fps() !== undefined);
  }

  get facts(): StreamFacts {
    const f: StreamFacts = {};
    const v = this.video;
    if (v) {
      f.videoCodec = v.videoCodec;
      f.videoProfile = v.videoProfile;
      f.videoLevel = v.videoLevel;
      f.width = v.width;
      f.height = v.height;
      f.videoBitDepth = v.videoBitDepth;
      f.videoChromaFormat = v.videoChromaFormat;
      f.videoCodecString = v.videoCodecString;
      const fps = this.fps();
      if (fps !== undefined) {
        f.fps = fps;
        f.fpsSource = v.fps !== undefined ? "vui" : "timestamps";
      }
    }
    const a = this.audio;
    if (a) {
      f.audioCodec = a.audioCodec;
      f.audioSampleRate = a.audioSampleRate;
      f.audioChannels = a.audioChannels;
      f.audioCodecString = a.audioCodecString;
      if (a.audioProfile) f.audioProfile = a.audioProfile;
    }
    const codecs = [v?.videoCodecString, a?.audioCodecString].filter((s): s is string => !!s);
    if (codecs.length) f.hlsCodecs = codecs.join(",");
    return f;
  }

  /** Exactly the SourceInfo fields the hub uses today. */
  sourceInfo(): SourceInfo {
    const f = this.facts;
    return {
      videoCodec: f.videoCodec,
      videoProfile: f.videoProfile,
      width: f.width,
      height: f.height,
      fps: f.fps,
      audioCodec: f.audioCodec,
      audioSampleRate: f.audioSampleRate,
      audioChannels: f.audioChannels,
      hlsCodecs: f.hlsCodecs,
    };
  }

  private fps(): number | undefined {
    return this.video?.fps ?? this.estimatedFps;
  }

  private observeVideo(msg: MediaMessage): boolean {
    const tag = parseVideoTag(msg.data);
    if (!tag?.codec) return false;
    if (tag.packet === "config") {
      if (this.videoConfig?.equals(tag.body)) return false;
      try {
        this.video = videoFactsFromConfig(tag.codec, tag.body);
      } catch (err) {
        this.lastError = `${tag.codec} sequence header: ${(err as Error).message}`;
        return false;
      }
      this.videoConfig = Buffer.from(tag.body);
      // A new coded stream may run at another rate: estimate afresh.
      this.estimatedFps = undefined;
      this.firstTs = undefined;
      this.frames = 0;
      this.spanMs = 0;
      return true;
    }
    if (tag.packet !== "frame" || !this.video || this.video.fps !== undefined || this.estimatedFps !== undefined) return false;
    // Estimate from DTS (monotonic even with B-frames), tolerating the 32-bit wrap.
    if (this.firstTs === undefined) {
      this.firstTs = msg.timestampMs;
      this.lastTs = msg.timestampMs;
      this.frames = 1;
      return false;
    }
    const d = delta32(msg.timestampMs, this.lastTs);
    if (d <= 0 || d > 1000) {
      // Out of order or a gap: start over from here.
      this.frames = 1;
      this.spanMs = 0;
      this.lastTs = msg.timestampMs;
      return false;
    }
    this.frames++;
    this.spanMs += d;
    this.lastTs = msg.timestampMs;
    if (this.frames >= this.fpsFrames) {
      this.estimatedFps = fpsFromSpan(this.frames, this.spanMs);
      return this.estimatedFps !== undefined;
    }
    return false;
  }

  private observeAudio(msg: MediaMessage): boolean {
    const tag = parseAudioTag(msg.data);
    if (!tag?.codec) return false;
    if (tag.codec === "aac") {
      if (tag.packet !== "config" || this.audioConfig?.equals(tag.body)) return false;
      try {
        this.audio = aacFacts(tag.body);
      } catch (err) {
        this.lastError = `AAC sequence header: ${(err as Error).message}`;
        return false;
      }
      this.audioConfig = Buffer.from(tag.body);
      return true;
    }
    // MP3 has no sequence header: read the first frame's header (again when the codec changes).
    if (this.audio?.audioCodec === "mp3") return false;
    const h = parseMp3Header(tag.body);
    if (!h) return false;
    this.audio = { audioCodec: "mp3", audioSampleRate: h.sampleRate, audioChannels: h.channels, audioCodecString: "mp4a.40.34" };
    this.audioConfig = undefined;
    return true;
  }
}
