// FLV media messages -> CMAF (fragmented MP4): an init segment per configuration and moof+mdat fragments, for LL-HLS.
import { aacFacts, videoFactsFromConfig } from "./codec-facts.ts";
import { forEachLengthPrefixedNal, looksLikeAnnexB } from "./annexb.ts";
import { parseAvcConfig } from "./avc-config.ts";
import { parseAudioTag, parseVideoTag, type VideoCodec } from "./flv-tag.ts";
import { parseHevcConfig } from "./hevc-config.ts";
import type { MediaMessage } from "./media-message.ts";
import { parseMp3Header } from "./mp3-header.ts";
import { fragment, initSegment, type FragmentSample, type InitTrack } from "./mp4-boxes.ts";
import { Timeline, type TimelineOptions } from "./timeline.ts";

export const CMAF_VIDEO_TRACK_ID = 1;
export const CMAF_AUDIO_TRACK_ID = 2;
const VIDEO_TIMESCALE = 90000;

export interface CmafFragment {
  bytes: Buffer;
  /** mfhd sequence number, from 1. */
  sequence: number;
  /** Decode time of the fragment's first sample (video if any), ms on the writer's continuous timeline. */
  startMs: number;
  durationMs: number;
  /** Starts with a video keyframe, or has no video: playable right after the init segment. */
  independent: boolean;
}

export interface CmafWriterOptions {
  /** A new init segment: at the start and whenever a track is added or its sequence header changes. */
  onInit(init: Buffer): void;
  onFragment(fragment: CmafFragment): void;
  onWarning?(message: string): void;
  /** A fragment closes once it spans this long (an LL-HLS part target). Default 1000 ms. */
  fragmentMs?: number;
  /** Also close a fragment before every video keyframe, so segments can start with one. Default true. */
  cutAtKeyframes?: boolean;
  timeline?: TimelineOptions;
}

interface Pending {
  data: Buffer;
  /** Decode time in the track's timescale. */
  dts: number;
  compositionOffset: number;
  key: boolean;
}

interface TrackState {
  init: InitTrack;
  pending?: Pending;
  lastDuration: number;
  samples: FragmentSample[];
  base: number;
}

export class CmafWriter {
  private readonly opts: CmafWriterOptions;
  private readonly fragmentMs: number;
  private readonly timeline: Timeline;
  private video?: TrackState & { codec: VideoCodec; lengthSize: number; config: Buffer };
  private audio?: TrackState & { config?: Buffer };
  private initDue = false;
  private waitForKeyframe = true;
  private sequence = 1;
  private readonly warned = new Set<string>();

  constructor(opts: CmafWriterOptions) {
    this.opts = opts;
    this.fragmentMs = opts.fragmentMs ?? 1000;
    this.timeline = new Timeline(opts.timeline);
  }

  write(msg: MediaMessage): void {
    if (msg.kind === "video") this.videoMessage(msg);
    else if (msg.kind === "audio") this.audioMessage(msg);
  }

  /** The input ended: close the last fragment (the last samples keep the duration before them). */
  end(): void {
    this.finishPending();
    this.flush();
  }

  private warn(key: string, message: string): void {
    if (this.warned.has(key)) return;
    if (this.warned.size < 64) this.warned.add(key);
    this.opts.onWarning?.(message);
  }

  // ---- configuration ----

  private videoMessage(msg: MediaMessage): void {
    const tag = parseVideoTag(msg.data);
    if (!tag?.codec) {
      if (tag) this.warn(`video-codec:${tag.codecLabel}`, `unsupported ${tag.codecLabel}: video dropped`);
      return;
    }
    if (tag.packet === "config") {
      if (this.video && this.video.codec === tag.codec && this.video.config.equals(tag.body)) return;
      const config = Buffer.from(tag.body);
      let init: InitTrack;
      let lengthSize: number;
      try {
        const facts = videoFactsFromConfig(tag.codec, config);
        lengthSize = tag.codec === "h264" ? parseAvcConfig(config).lengthSize : parseHevcConfig(config).lengthSize;
        init = { kind: "video", id: CMAF_VIDEO_TRACK_ID, timescale: VIDEO_TIMESCALE, codec: tag.codec, width: facts.width, height: facts.height, config };
      } catch (err) {
        this.warn(`video-config:${(err as Error).message}`, `bad ${tag.codec} sequence header: ${(err as Error).message}`);
        return;
      }
      this.reconfigure();
      this.video = { init, codec: tag.codec, lengthSize, config, lastDuration: 3000, samples: [], base: 0 };
      this.waitForKeyframe = true;
      return;
    }
    if (tag.packet !== "frame") return;
    const v = this.video;
    if (!v || v.codec !== tag.codec) {
      this.warn("video-no-config", `${tag.codec} frame before its sequence header: dropped`);
      return;
    }
    if (looksLikeAnnexB(tag.body, v.lengthSize)) {
      this.warn("video-annexb", `${tag.codec} frames with start codes are not written to CMAF: dropped`);
      return;
    }
    let irap = false;
    const hevc = tag.codec === "hevc";
    const valid = forEachLengthPrefixedNal(tag.body, v.lengthSize, (nal) => {
      const type = hevc ? (nal[0]! >> 1) & 0x3f : nal[0]! & 0x1f;
      if (hevc ? type >= 16 && type <= 21 : type === 5) irap = true;
    });
    if (!valid || tag.body.length === 0) {
      this.warn("video-nal-length", `${tag.codec} frame with bad NAL lengths: dropped`);
      return;
    }
    const key = tag.frameType === 1 || tag.frameType === 4 || irap;
    if (this.waitForKeyframe) {
      if (!key) return;
      this.waitForKeyframe = false;
    }
    const ms = this.timeline.map("video", msg.timestampMs);
    this.sample(v, {
      data: Buffer.from(tag.body),
      dts: Math.round(ms * 90),
      compositionOffset: Math.round(tag.compositionTimeMs * 90),
      key,
    });
  }

  private audioMessage(msg: MediaMessage): void {
    const tag = parseAudioTag(msg.data);
    if (!tag?.codec) {
      if (tag) this.warn(`audio-codec:${tag.codecLabel}`, `unsupported ${tag.codecLabel}: audio dropped`);
      return;
    }
    if (tag.codec === "aac" && tag.packet === "config") {
      if (this.audio?.config?.equals(tag.body)) return;
      let init: InitTrack;
      try {
        const f = aacFacts(tag.body);
        init = { kind: "audio", id: CMAF_AUDIO_TRACK_ID, timescale: f.audioSampleRate, codec: "aac", sampleRate: f.audioSampleRate, channels: f.audioChannels, config: Buffer.from(tag.body) };
      } catch (err) {
        this.warn(`aac-config:${(err as Error).message}`, `bad AAC sequence header: ${(err as Error).message}`);
        return;
      }
      this.reconfigure();
      this.audio = { init, config: init.config, lastDuration: 1024, samples: [], base: 0 };
      return;
    }
    if (tag.codec === "mp3" && this.audio?.init.codec !== "mp3") {
      const h = parseMp3Header(tag.body);
      if (!h) return;
      this.reconfigure();
      const init: InitTrack = { kind: "audio", id: CMAF_AUDIO_TRACK_ID, timescale: h.sampleRate, codec: "mp3", sampleRate: h.sampleRate, channels: h.channels };
      this.audio = { init, lastDuration: 1152, samples: [], base: 0 };
    }
    const a = this.audio;
    if (!a || a.init.codec !== tag.codec) {
      this.warn("audio-no-config", `${tag.codec} frame before its sequence header: dropped`);
      return;
    }
    if (tag.body.length === 0) return;
    const ms = this.timeline.map("audio", msg.timestampMs);
    this.sample(a, { data: Buffer.from(tag.body), dts: Math.round((ms * a.init.timescale) / 1000), compositionOffset: 0, key: true });
  }

  /** A track is added or changes: close what was written under the old init segment. */
  private reconfigure(): void {
    this.finishPending();
    this.flush();
    this.initDue = true;
  }

  // ---- samples and fragments ----

  private sample(t: TrackState, s: Pending): void {
    if (this.initDue) {
      const tracks = [this.video?.init, this.audio?.init].filter((x): x is InitTrack => x !== undefined);
      this.opts.onInit(initSegment(tracks));
      this.initDue = false;
    }
    const isVideo = t === this.video;
    const leads = isVideo || !this.video;
    if (t.pending) {
      const d = s.dts - t.pending.dts;
      this.push(t, t.pending, d > 0 ? d : t.lastDuration);
    }
    // Cut before this sample when the fragment is long enough, or before a keyframe.
    if (leads && this.hasSamples()) {
      const lead = isVideo ? this.video! : this.audio!;
      const spanMs = lead.samples.length ? ((s.dts - lead.base) * 1000) / lead.init.timescale : 0;
      if (spanMs >= this.fragmentMs || (isVideo && s.key && (this.opts.cutAtKeyframes ?? true))) this.flush();
    }
    t.pending = s;
  }

  private push(t: TrackState, p: Pending, duration: number): void {
    if (t.samples.length === 0) t.base = p.dts;
    t.samples.push({ data: p.data, duration, compositionOffset: p.compositionOffset, key: p.key });
    t.lastDuration = duration;
    t.pending = undefined;
  }

  private finishPending(): void {
    for (const t of [this.video, this.audio]) if (t?.pending) this.push(t, t.pending, t.lastDuration);
  }

  private hasSamples(): boolean {
    return (this.video?.samples.length ?? 0) > 0 || (this.audio?.samples.length ?? 0) > 0;
  }

  private flush(): void {
    if (!this.hasSamples()) return;
    const tracks = [this.video, this.audio].filter((t): t is NonNullable<typeof t> => !!t && t.samples.length > 0);
    const lead = tracks[0]!;
    const durationTicks = lead.samples.reduce((sum, s) => sum + s.duration, 0);
    const bytes = fragment(this.sequence, tracks.map((t) => ({ id: t.init.id, baseDecodeTime: t.base, samples: t.samples })));
    const f: CmafFragment = {
      bytes,
      sequence: this.sequence++,
      startMs: (lead.base * 1000) / lead.init.timescale,
      durationMs: (durationTicks * 1000) / lead.init.timescale,
      independent: lead !== this.video || lead.samples[0]!.key,
    };
    for (const t of tracks) t.samples = [];
    this.opts.onFragment(f);
  }
}
