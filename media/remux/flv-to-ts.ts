// In-process RTMP remuxer: FLV media messages (H.264/HEVC video, AAC/MP3 audio) -> MPEG-TS bytes, one batch per message.
//
// Why our own code and not a library: the npm muxers are browser-side and mostly the other way round
// (mux.js, mpegts.js, jmuxer: MPEG-TS/FLV -> fragmented MP4 for MSE). mediabunny does write MPEG-TS, but
// through an asynchronous, file-oriented Output pipeline (tracks declared up front, packets awaited)
// that does not take FLV tag bodies, and whose table repetition, access-unit framing and timestamp
// policy we could not steer. What a live gateway needs here -- PAT/PMT before every keyframe, SPS/PPS
// before every IDR, an AUD per access unit, PCR and random_access_indicator, 33-bit wrap, encoder
// restarts, one synchronous batch per message with a single copy of the payload -- is a few hundred
// lines, so we keep them here and test them against ffprobe/ffmpeg.
import { parseAacConfig, AdtsHeader, type AacConfig } from "./aac-config.ts";
import { forEachAnnexBNal, forEachLengthPrefixedNal, looksLikeAnnexB } from "./annexb.ts";
import { parseAvcConfig } from "./avc-config.ts";
import { parseVideoTag, parseAudioTag, type VideoCodec, type AudioCodec } from "./flv-tag.ts";
import { parseHevcConfig } from "./hevc-config.ts";
import type { MediaMessage } from "./media-message.ts";
import { Timeline, type TimelineOptions } from "./timeline.ts";
import { pesPacketCount, writePes, PTS_MODULO, type PesUnit } from "./ts-pes.ts";
import { patPacket, pmtPacket, TS_PACKET_SIZE, PID_PAT, type PmtStream } from "./ts-tables.ts";

export const PMT_PID = 0x1000;
export const VIDEO_PID = 0x100;
export const AUDIO_PID = 0x101;

export const STREAM_TYPE_H264 = 0x1b;
export const STREAM_TYPE_HEVC = 0x24;
export const STREAM_TYPE_AAC_ADTS = 0x0f;
export const STREAM_TYPE_MPEG1_AUDIO = 0x03;

export interface FlvToTsOptions {
  /** Receives the TS bytes produced by one `write` (a whole number of 188-byte packets). */
  onData(chunk: Buffer): void;
  /** Something in the input was dropped or could not be used (each distinct problem is reported once). */
  onWarning?(message: string): void;
  /**
   * PTS/DTS are written this far ahead of the PCR, the decoder's buffering allowance. Default 700 ms,
   * like ffmpeg's mpegts muxer (max_delay) and nginx-rtmp. PTS = FLV time + delay, PCR = FLV DTS.
   */
  muxDelayMs?: number;
  /** PAT/PMT go out before every video keyframe, on every change, and at least this often. Default 500 ms. */
  tableIntervalMs?: number;
  /** When a timestamp jump counts as an encoder restart (see Timeline). */
  timeline?: TimelineOptions;
  /** Where output buffers come from (a ByteArena, so consecutive outputs are adjacent). Default: one Buffer.allocUnsafe each. */
  allocate?(bytes: number): Buffer;
}

export interface FlvToTsStats {
  /** TS packets written. */
  packets: number;
  videoFrames: number;
  audioFrames: number;
  /** Frames dropped: before their sequence header, before the first keyframe, or malformed. */
  droppedFrames: number;
  /** Timestamp jumps bridged (encoder restarts). */
  timestampJumps: number;
}

interface VideoTrack {
  codec: VideoCodec;
  lengthSize: number;
  /** Start code + NAL unit pieces of the sequence header's parameter sets, inserted before IRAP frames. */
  params: Buffer[];
  paramsLength: number;
  config: Buffer;
}

interface AudioTrack {
  codec: AudioCodec;
  adts?: AdtsHeader;
  aac?: AacConfig;
  config?: Buffer;
}

const START_CODE = Buffer.from([0, 0, 0, 1]);
const AUD_H264 = Buffer.from([0, 0, 0, 1, 0x09, 0xf0]);
const AUD_HEVC = Buffer.from([0, 0, 0, 1, 0x46, 0x01, 0x50]);

/** Milliseconds -> 90 kHz modulo 2^33. 2^32 ms is a multiple of 2^33 ticks, so a 32-bit FLV wrap stays continuous. */
function to90k(ms: number): number {
  return ((Math.round(ms * 90) % PTS_MODULO) + PTS_MODULO) % PTS_MODULO;
}

/**
 * Remuxes one RTMP publish session, in place of the Segmenter's ffmpeg:
 *
 *   const splitter = new TsSplitter({ targetDuration });
 *   const facts = new CodecFacts();
 *   const remuxer = new FlvToTs({ onData: (ts) => splitter.write(ts), onWarning: (m) => log.warn(m) });
 *   // per message:  if (facts.observe(msg) && facts.ready) setSourceInfo(facts.sourceInfo()); remuxer.write(msg);
 *   // at the end:   splitter.end();
 *
 * Nothing is buffered between messages: each `write` emits at most one Buffer, synchronously, and keeps
 * no reference to `msg.data` afterwards (the caller may reuse it). Video frames before the first
 * keyframe (and after a new sequence header, until its keyframe) are dropped.
 */
export class FlvToTs {
  private readonly opts: FlvToTsOptions;
  private readonly delayMs: number;
  private readonly tableIntervalMs: number;
  private readonly timeline: Timeline;
  private video?: VideoTrack;
  private audio?: AudioTrack;
  /** Tracks announced in the current PMT. */
  private pmtVideoType = 0;
  private pmtAudioType = 0;
  private pmtVersion = -1;
  private pcrPid = VIDEO_PID;
  private pat?: Buffer;
  private pmt?: Buffer;
  private tablesDue = true;
  private lastTablesMs = -Infinity;
  private started = false;
  private waitForKeyframe = true;
  private readonly cc = new Map<number, number>();
  private readonly warned = new Set<string>();
  private readonly adtsScratch = Buffer.alloc(7);
  // Per-message scratch, reused: writePes consumes a unit synchronously and nothing keeps it, so
  // one PES unit per track, one piece list and one NAL callback serve every frame instead of a
  // closure, two arrays and a unit object per RTMP message (about 80 a second per stream; with
  // the views they hold, the remuxer's share of the ingest's garbage, bench/ingest.ts).
  private readonly videoUnit: PesUnit = { pid: VIDEO_PID, streamId: 0xe0, pts: 0, dts: 0, bounded: false, randomAccess: false, pcr: undefined, pieces: [], length: 0 };
  private readonly audioUnit: PesUnit = { pid: AUDIO_PID, streamId: 0xc0, pts: 0, dts: 0, bounded: true, randomAccess: true, pcr: undefined, pieces: [], length: 0 };
  /** State of the frame being scanned by onNal. */
  private nalHevc = false;
  private nalIrap = false;
  private nalHasParams = false;
  private readonly onNal = (nal: Buffer): void => {
    const hevc = this.nalHevc;
    const type = hevc ? (nal[0]! >> 1) & 0x3f : nal[0]! & 0x1f;
    if (hevc) {
      if (type === 35) return; // our AUD replaces any in the sample
      if (type >= 16 && type <= 21) this.nalIrap = true;
      else if (type === 33) this.nalHasParams = true;
    } else {
      if (type === 9) return;
      if (type === 5) this.nalIrap = true;
      else if (type === 7) this.nalHasParams = true;
    }
    const u = this.videoUnit;
    u.pieces.push(START_CODE, nal);
    u.length += 4 + nal.length;
  };
  private readonly counters: FlvToTsStats = { packets: 0, videoFrames: 0, audioFrames: 0, droppedFrames: 0, timestampJumps: 0 };

  constructor(opts: FlvToTsOptions) {
    this.opts = opts;
    this.delayMs = opts.muxDelayMs ?? 700;
    this.tableIntervalMs = opts.tableIntervalMs ?? 500;
    this.timeline = new Timeline(opts.timeline);
  }

  get stats(): FlvToTsStats {
    return { ...this.counters, timestampJumps: this.timeline.jumps };
  }

  /** Takes one RTMP media message; emits its TS packets (if any) through onData before returning. */
  write(msg: MediaMessage): void {
    if (msg.kind === "video") this.videoMessage(msg);
    else if (msg.kind === "audio") this.audioMessage(msg);
  }

  private warn(key: string, message: string): void {
    if (this.warned.has(key)) return;
    if (this.warned.size < 64) this.warned.add(key);
    this.opts.onWarning?.(message);
  }

  // ---- video ----

  private videoMessage(msg: MediaMessage): void {
    const tag = parseVideoTag(msg.data);
    if (!tag) {
      this.warn("video-short", "video message too short for its header");
      return;
    }
    if (!tag.codec) {
      this.warn(`video-codec:${tag.codecLabel}`, `unsupported ${tag.codecLabel}: video dropped`);
      return;
    }
    if (tag.packet === "config") this.videoConfig(tag.codec, tag.body);
    else if (tag.packet === "frame") this.videoFrame(tag.codec, tag.frameType, tag.compositionTimeMs, tag.body, msg.timestampMs);
  }

  private videoConfig(codec: VideoCodec, body: Buffer): void {
    if (this.video && this.video.codec === codec && this.video.config.equals(body)) return; // repeated header
    let nals: Buffer[];
    let lengthSize: number;
    try {
      if (codec === "h264") {
        const c = parseAvcConfig(body);
        nals = [...c.sps, ...c.pps];
        lengthSize = c.lengthSize;
      } else {
        const c = parseHevcConfig(body);
        nals = c.nalUnits;
        lengthSize = c.lengthSize;
      }
    } catch (err) {
      this.warn(`video-config:${(err as Error).message}`, `bad ${codec} sequence header: ${(err as Error).message}`);
      return;
    }
    const params: Buffer[] = [];
    let paramsLength = 0;
    for (const nal of nals) {
      params.push(START_CODE, nal);
      paramsLength += 4 + nal.length;
    }
    this.video = { codec, lengthSize, params, paramsLength, config: Buffer.from(body) };
    // A new sequence header starts a new coded stream: resume at its first keyframe.
    this.waitForKeyframe = true;
    this.updateProgram();
  }

  private videoFrame(codec: VideoCodec, frameType: number, ctsMs: number, body: Buffer, timestampMs: number): void {
    const v = this.video;
    if (!v || v.codec !== codec) {
      this.counters.droppedFrames++;
      this.warn("video-no-config", `${codec} frame before its sequence header: dropped`);
      return;
    }
    const hevc = codec === "hevc";
    const aud = hevc ? AUD_HEVC : AUD_H264;
    const u = this.videoUnit;
    const pieces = u.pieces;
    pieces.length = 0;
    pieces.push(aud);
    u.length = aud.length;
    this.nalHevc = hevc;
    this.nalIrap = false;
    this.nalHasParams = false;
    if (looksLikeAnnexB(body, v.lengthSize)) {
      this.warn("video-annexb", `${codec} frames carry start codes instead of NAL lengths: accepted`);
      forEachAnnexBNal(body, this.onNal);
    } else if (!forEachLengthPrefixedNal(body, v.lengthSize, this.onNal)) {
      this.warn("video-nal-length", `${codec} frame with a NAL length past its end: truncated`);
    }
    if (pieces.length === 1) {
      this.counters.droppedFrames++;
      pieces.length = 0;
      return;
    }
    const key = frameType === 1 || frameType === 4 || this.nalIrap;
    if (this.waitForKeyframe) {
      if (!key) {
        this.counters.droppedFrames++;
        pieces.length = 0;
        return;
      }
      this.waitForKeyframe = false;
    }
    if (key && !this.nalHasParams) {
      pieces.splice(1, 0, ...v.params);
      u.length += v.paramsLength;
    }
    const dtsMs = this.timeline.map("video", timestampMs);
    if (key) this.tablesDue = true;
    this.counters.videoFrames++;
    u.dts = to90k(dtsMs + this.delayMs);
    u.pts = to90k(dtsMs + ctsMs + this.delayMs);
    u.randomAccess = key;
    u.pcr = this.pcrPid === VIDEO_PID ? to90k(dtsMs) : undefined;
    this.emit(dtsMs, u);
    // Drop the views of this message (the caller may reuse its buffer; nothing should pin it).
    pieces.length = 0;
  }

  // ---- audio ----

  private audioMessage(msg: MediaMessage): void {
    const tag = parseAudioTag(msg.data);
    if (!tag) {
      this.warn("audio-short", "audio message too short for its header");
      return;
    }
    if (!tag.codec) {
      this.warn(`audio-codec:${tag.codecLabel}`, `unsupported ${tag.codecLabel}: audio dropped`);
      return;
    }
    if (tag.codec === "aac") {
      if (tag.packet === "config") this.aacConfig(tag.body);
      else this.aacFrame(tag.body, msg.timestampMs);
    } else {
      this.mp3Frame(tag.body, msg.timestampMs);
    }
  }

  private aacConfig(body: Buffer): void {
    if (this.audio?.config?.equals(body)) return;
    let aac: AacConfig;
    let adts: AdtsHeader;
    try {
      aac = parseAacConfig(body);
      adts = new AdtsHeader(aac);
    } catch (err) {
      this.warn(`aac-config:${(err as Error).message}`, `bad AAC sequence header: ${(err as Error).message}`);
      return;
    }
    this.audio = { codec: "aac", aac, adts, config: Buffer.from(body) };
    this.updateProgram();
  }

  private aacFrame(body: Buffer, timestampMs: number): void {
    const a = this.audio;
    if (!a?.adts) {
      this.counters.droppedFrames++;
      this.warn("aac-no-config", "AAC frame before its sequence header: dropped");
      return;
    }
    if (body.length === 0) return;
    if (body.length > AdtsHeader.MAX_PAYLOAD) {
      this.counters.droppedFrames++;
      this.warn("aac-too-big", `AAC frame of ${body.length} bytes is too big for ADTS: dropped`);
      return;
    }
    a.adts.write(this.adtsScratch, 0, body.length);
    const pieces = this.audioUnit.pieces;
    pieces.length = 0;
    pieces.push(this.adtsScratch, body);
    this.audioPes(timestampMs, 7 + body.length);
  }

  private mp3Frame(body: Buffer, timestampMs: number): void {
    if (this.audio?.codec !== "mp3") {
      this.audio = { codec: "mp3" };
      this.updateProgram();
    }
    if (body.length === 0) return;
    const pieces = this.audioUnit.pieces;
    pieces.length = 0;
    pieces.push(body);
    this.audioPes(timestampMs, body.length);
  }

  /** The audio unit's pieces are set by the caller; they are cleared here once written. */
  private audioPes(timestampMs: number, length: number): void {
    const ms = this.timeline.map("audio", timestampMs);
    const pts = to90k(ms + this.delayMs);
    this.counters.audioFrames++;
    // Every audio frame is a random access point (ffmpeg marks them the same way): set once in audioUnit.
    const u = this.audioUnit;
    u.pts = pts;
    u.dts = pts;
    u.pcr = this.pcrPid === AUDIO_PID ? to90k(ms) : undefined;
    u.length = length;
    this.emit(ms, u);
    u.pieces.length = 0;
  }

  // ---- program tables and output ----

  /** Rebuilds the PAT/PMT when the set of tracks or their types changed. */
  private updateProgram(): void {
    const videoType = this.video ? (this.video.codec === "hevc" ? STREAM_TYPE_HEVC : STREAM_TYPE_H264) : 0;
    const audioType = this.audio ? (this.audio.codec === "aac" ? STREAM_TYPE_AAC_ADTS : STREAM_TYPE_MPEG1_AUDIO) : 0;
    if (this.pmt && videoType === this.pmtVideoType && audioType === this.pmtAudioType) return;
    this.pmtVideoType = videoType;
    this.pmtAudioType = audioType;
    this.pmtVersion = (this.pmtVersion + 1) & 0x1f;
    this.pcrPid = videoType ? VIDEO_PID : AUDIO_PID;
    const streams: PmtStream[] = [];
    if (videoType) streams.push({ streamType: videoType, pid: VIDEO_PID });
    if (audioType) streams.push({ streamType: audioType, pid: AUDIO_PID });
    this.pat ??= patPacket(PMT_PID);
    this.pmt = pmtPacket(PMT_PID, this.pcrPid, streams, this.pmtVersion);
    this.tablesDue = true;
  }

  private nextCc(pid: number): number {
    const cc = this.cc.get(pid) ?? 0;
    this.cc.set(pid, (cc + 1) & 0x0f);
    return cc;
  }

  private emit(ms: number, unit: PesUnit): void {
    if (!this.started) {
      this.started = true;
      this.tablesDue = true;
    }
    if (Math.abs(ms - this.lastTablesMs) >= this.tableIntervalMs) this.tablesDue = true;
    const withTables = this.tablesDue && this.pat !== undefined && this.pmt !== undefined;
    const tablePackets = withTables ? 2 : 0;
    const count = tablePackets + pesPacketCount(unit);
    const out = this.opts.allocate ? this.opts.allocate(count * TS_PACKET_SIZE) : Buffer.allocUnsafe(count * TS_PACKET_SIZE);
    let off = 0;
    if (withTables) {
      this.pat!.copy(out, off);
      out[off + 3] = (out[off + 3]! & 0xf0) | this.nextCc(PID_PAT);
      off += TS_PACKET_SIZE;
      this.pmt!.copy(out, off);
      out[off + 3] = (out[off + 3]! & 0xf0) | this.nextCc(PMT_PID);
      off += TS_PACKET_SIZE;
      this.tablesDue = false;
      this.lastTablesMs = ms;
    }
    const cc = this.cc.get(unit.pid) ?? 0;
    this.cc.set(unit.pid, writePes(out, off, cc, unit));
    this.counters.packets += count;
    this.opts.onData(out);
  }
}
