// WHEP fan-out for one stream. Upstream RTP comes either straight from a WHIP H.264
// publisher (passthrough: lowest latency) or from one ffmpeg per stream that packetizes the
// stream's output rendition (MPEG-TS segments as they arrive -> H.264 copy + Opus RTP on
// loopback UDP). Every upstream (re)start is a new "generation"; each viewer's rewriter
// continues its sequence numbers and timestamps across generations, so viewers keep their
// tracks when a publisher reconnects or a processor swaps orchestrators.
import type dgram from "node:dgram";
import { randomInt } from "node:crypto";
import { moduleLogger } from "../../core/log.ts";
import { spawnFfmpeg, type FfmpegProcess } from "../../core/ffmpeg.ts";
import type { LiveSegment, Release } from "../../core/live-segment.ts";
import type { Stream } from "../hub/stream.ts";
import type { Rendition } from "../hub/types.ts";
import { h264RtpIsKeyframe, isRtp, rtpTimestamp } from "./rtp.ts";
import { closeSocket, loopbackSocket, socketPort } from "./udp.ts";
import type { WhipSession } from "./whip.ts";

const log = moduleLogger("whep");

export const PACKETIZER_VIDEO_PT = 96;
export const PACKETIZER_AUDIO_PT = 111;
const GOP_CACHE_MAX_PACKETS = 4000;
const PACE_CHUNK = 16 * 1024;
const PACE_BURST = 128 * 1024;
const PACE_SPEEDUP = 4;

/** What the fan-out needs from a viewer. */
export interface FanoutViewer {
  readonly id: string;
  /** Video started (the viewer has had a keyframe since its last resync). */
  started: boolean;
  sendVideo(packet: Buffer, generation: number): void;
  sendAudio(packet: Buffer, generation: number): void;
  /** Next video packet continues after the last one sent (after a deliberate gap). */
  resyncVideo(): void;
}

/** The rendition WHEP serves: the source if there is one, else the largest H.264 one. */
export function pickRendition(list: Rendition[]): Rendition | undefined {
  const h264 = list.filter((r) => !r.codecs || r.codecs.includes("avc1"));
  return h264.find((r) => r.source) ?? [...h264].sort((a, b) => b.width * b.height - a.width * a.height || b.bandwidth - a.bandwidth)[0];
}

/** One ffmpeg: MPEG-TS on stdin -> H.264 (copy) RTP + Opus RTP to two loopback sockets. */
class Packetizer {
  proc?: FfmpegProcess;
  private videoSock?: dgram.Socket;
  private audioSock?: dgram.Socket;
  closed = false;

  constructor(
    private readonly label: string,
    private readonly hasAudio: boolean,
    private readonly onVideo: (b: Buffer) => void,
    private readonly onAudio: (b: Buffer) => void,
    private readonly onExit: () => void,
  ) {}

  async start(): Promise<void> {
    this.videoSock = await loopbackSocket((m) => isRtp(m) && this.onVideo(m));
    if (this.hasAudio) this.audioSock = await loopbackSocket((m) => isRtp(m) && this.onAudio(m));
    if (this.closed) return this.cleanup();
    const rtp = (port: number) => `rtp://127.0.0.1:${port}?pkt_size=1200`;
    const args = [
      "-hide_banner", "-nostdin", "-loglevel", "error",
      "-fflags", "+nobuffer", "-probesize", "16384", "-analyzeduration", "0",
      "-f", "mpegts", "-i", "pipe:0",
      "-map", "0:v:0", "-c:v", "copy", "-f", "rtp", "-payload_type", String(PACKETIZER_VIDEO_PT),
      "-ssrc", String(randomInt(1, 2 ** 31)), rtp(socketPort(this.videoSock)),
    ];
    if (this.audioSock) {
      args.push(
        "-map", "0:a:0", "-c:a", "libopus", "-b:a", "96k", "-ar", "48000", "-ac", "2", "-application", "lowdelay",
        "-frame_duration", "20", "-f", "rtp", "-payload_type", String(PACKETIZER_AUDIO_PT),
        "-ssrc", String(randomInt(1, 2 ** 31)), rtp(socketPort(this.audioSock)),
      );
    }
    this.proc = spawnFfmpeg(args, { label: this.label });
    void this.proc.exited.then(({ code }) => {
      if (!this.closed && code !== 0) log.warn({ label: this.label, code, stderr: this.proc!.stderrTail().slice(-400) }, "WHEP packetizer exited");
      this.cleanup();
      if (!this.closed) {
        this.closed = true;
        this.onExit();
      }
    });
  }

  write(chunk: Buffer): boolean {
    const p = this.proc;
    if (!p || !p.running || this.closed || !p.stdin.writable) return false;
    return p.stdin.write(chunk);
  }

  async drain(): Promise<void> {
    const p = this.proc;
    if (!p || !p.stdin.writableNeedDrain) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(done, 1000);
      p.stdin.once("drain", done);
    });
  }

  /** Input over: let ffmpeg send what it has, then exit. */
  end(): void {
    this.proc?.stdin.end();
  }

  stop(): void {
    if (this.closed) return;
    this.closed = true;
    void this.proc?.stop(300);
    this.cleanup();
  }

  private cleanup(): void {
    closeSocket(this.videoSock);
    closeSocket(this.audioSock);
    this.videoSock = this.audioSock = undefined;
  }
}

export interface FanoutOptions {
  /** Stop the packetizer this long after the last viewer left. */
  idleStopMs?: number;
}

export class StreamFanout {
  readonly viewers = new Set<FanoutViewer>();
  generation = 0;
  private direct?: WhipSession;
  private directOff?: () => void;
  private packetizer?: Packetizer;
  private feedChain: Promise<void> = Promise.resolve();
  /** The newest segment of the served rendition (the packetizer starts from its beginning). */
  private latest?: LiveSegment;
  /** The hold on `latest` (a viewer arriving later starts from it). */
  private latestHold?: Release;
  private latestRendition?: Rendition;
  private gop: Buffer[] = [];
  private gopTs?: number;
  private idleTimer?: NodeJS.Timeout;
  private tokens = PACE_BURST;
  private tokensAt = Date.now();
  private readonly unsubscribe: () => void;
  closed = false;
  videoPackets = 0;

  constructor(
    readonly stream: Stream,
    private readonly opts: FanoutOptions = {},
  ) {
    const outputs = stream.outputs;
    const onSegment = (name: string, seg: LiveSegment) => this.onSegment(name, seg);
    const onDiscontinuity = () => this.restartPacketizer("discontinuity");
    const onEnded = () => this.endPacketizer();
    outputs.on("segment", onSegment);
    outputs.on("discontinuity", onDiscontinuity);
    outputs.on("ended", onEnded);
    this.unsubscribe = () => {
      outputs.off("segment", onSegment);
      outputs.off("discontinuity", onDiscontinuity);
      outputs.off("ended", onEnded);
    };
  }

  get mode(): "direct" | "packetizer" | "idle" {
    return this.direct ? "direct" : this.packetizer ? "packetizer" : "idle";
  }

  /** A WHIP H.264 publisher on a passthrough stream: forward its RTP as is. */
  setDirect(session: WhipSession): void {
    this.clearDirect();
    this.stopPacketizer();
    this.direct = session;
    this.newGeneration();
    const onVideo = (buf: Buffer, key: boolean) => this.onVideo(buf, key);
    const onAudio = (buf: Buffer) => this.onAudio(buf);
    const onClosed = () => {
      if (this.direct === session) this.clearDirect();
    };
    session.on("video", onVideo);
    session.on("audio", onAudio);
    session.once("closed", onClosed);
    this.directOff = () => {
      session.off("video", onVideo);
      session.off("audio", onAudio);
      session.off("closed", onClosed);
    };
    if (this.viewers.size > 0) session.requestKeyframe(true);
  }

  clearDirect(): void {
    this.directOff?.();
    this.directOff = undefined;
    this.direct = undefined;
  }

  addViewer(v: FanoutViewer): void {
    clearTimeout(this.idleTimer);
    this.viewers.add(v);
    v.started = false;
    if (this.direct) {
      this.direct.requestKeyframe(true);
    } else if (this.gop.length > 0) {
      // Start at once from the cached group of pictures.
      v.started = true;
      for (const p of this.gop) v.sendVideo(p, this.generation);
    }
    if (!this.direct && !this.packetizer) this.startPacketizer(this.latest, this.latestRendition);
  }

  removeViewer(v: FanoutViewer): void {
    this.viewers.delete(v);
    if (this.viewers.size === 0 && !this.closed) {
      clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => {
        if (this.viewers.size === 0) this.stopPacketizer();
      }, this.opts.idleStopMs ?? 5000);
      this.idleTimer.unref();
    }
  }

  /** A viewer lost a picture. */
  onViewerPli(v: FanoutViewer): void {
    if (this.direct) {
      this.direct.requestKeyframe();
      return;
    }
    // Segment sources: keyframes come every GOP; hold the viewer until the next one.
    if (v.started) {
      v.started = false;
      v.resyncVideo();
    }
  }

  private newGeneration(): void {
    this.generation++;
    this.gop = [];
    this.gopTs = undefined;
    for (const v of this.viewers) v.started = false;
  }

  private onVideo(buf: Buffer, key: boolean): void {
    this.videoPackets++;
    if (key) {
      const ts = rtpTimestamp(buf);
      if (ts !== this.gopTs) {
        this.gop = [];
        this.gopTs = ts;
      }
    }
    if (this.gopTs !== undefined && this.gop.length < GOP_CACHE_MAX_PACKETS) this.gop.push(buf);
    for (const v of this.viewers) {
      if (!v.started) {
        if (!key) continue;
        v.started = true;
      }
      v.sendVideo(buf, this.generation);
    }
  }

  private onAudio(buf: Buffer): void {
    for (const v of this.viewers) if (v.started) v.sendAudio(buf, this.generation);
  }

  // --- segment sources ---------------------------------------------------------------

  private onSegment(name: string, seg: LiveSegment): void {
    const list = this.stream.outputs.renditions;
    const chosen = pickRendition(list);
    if (chosen ? chosen.name !== name : list.length > 0) return;
    this.setLatest(seg);
    this.latestRendition = chosen;
    if (this.direct || this.viewers.size === 0) return;
    if (!this.packetizer || seg.discontinuity) {
      if (seg.discontinuity) this.stopPacketizer();
      this.startPacketizer(seg, chosen);
      return;
    }
    this.enqueue(seg);
  }

  private startPacketizer(from: LiveSegment | undefined, rendition: Rendition | undefined): void {
    if (!from || this.closed || this.direct) return;
    if (from.complete && Date.now() - from.completedAt > 10000) return; // stale: wait for the next one
    const codecs = rendition?.codecs ?? "";
    const hasAudio = codecs ? codecs.includes("mp4a") : this.stream.source.audioCodec !== undefined;
    this.newGeneration();
    const p = new Packetizer(
      `whep-packetizer ${this.stream.id}`,
      hasAudio,
      (b) => {
        if (this.packetizer === p) this.onVideo(b, h264RtpIsKeyframe(b));
      },
      (b) => {
        if (this.packetizer === p) this.onAudio(b);
      },
      () => {
        if (this.packetizer === p) this.packetizer = undefined;
      },
    );
    this.packetizer = p;
    // Feeding waits for the sockets; segments queue behind in order.
    this.feedChain = p.start().then(
      () => undefined,
      (err: Error) => {
        log.warn({ stream: this.stream.id, err: err.message }, "WHEP packetizer failed to start");
        if (this.packetizer === p) this.packetizer = undefined;
      },
    );
    this.enqueue(from);
  }

  private enqueue(seg: LiveSegment): void {
    const p = this.packetizer;
    if (!p) return;
    seg.pin(); // read later, behind the segments before it: its bytes must stay
    this.feedChain = this.feedChain.then(async () => {
      if (this.packetizer !== p || p.closed) return;
      try {
        for await (const chunk of seg.iterate()) {
          for (let off = 0; off < chunk.length; off += PACE_CHUNK) {
            if (this.packetizer !== p || p.closed) return;
            const part = chunk.subarray(off, off + PACE_CHUNK);
            await this.pace(part.length);
            if (!p.write(part)) await p.drain();
          }
        }
      } catch {
        /* aborted segment: skip the rest of it */
      }
    });
  }

  /**
   * Token bucket at PACE_SPEEDUP x the rendition's bitrate: live bytes pass at once, while a
   * backlog (the part of a segment produced before a viewer came, or a whole segment that a
   * processor publishes complete) drains a few times faster than real time instead of as
   * one burst that overflows viewers' socket buffers.
   */
  private async pace(bytes: number): Promise<void> {
    const bandwidth = this.latestRendition?.bandwidth || 4_000_000;
    const rate = (bandwidth / 8) * PACE_SPEEDUP; // bytes per second
    const now = Date.now();
    this.tokens = Math.min(PACE_BURST, this.tokens + ((now - this.tokensAt) * rate) / 1000);
    this.tokensAt = now;
    if (this.tokens >= bytes) {
      this.tokens -= bytes;
      return;
    }
    const waitMs = Math.ceil(((bytes - this.tokens) * 1000) / rate);
    await new Promise((r) => setTimeout(r, waitMs));
    this.tokens = 0;
    this.tokensAt = Date.now();
  }

  private restartPacketizer(why: string): void {
    if (!this.packetizer) return;
    log.debug({ stream: this.stream.id, why }, "restarting WHEP packetizer");
    this.stopPacketizer();
    // The next segment (after the break) starts a new one.
  }

  private endPacketizer(): void {
    const p = this.packetizer;
    this.setLatest(undefined);
    if (!p) return;
    // Detach now (a returning publisher starts a new packetizer); let this one flush and exit.
    this.packetizer = undefined;
    this.feedChain = this.feedChain.then(() => p.end());
  }

  private setLatest(seg: LiveSegment | undefined): void {
    this.latestHold?.();
    this.latest = seg;
    this.latestHold = seg?.retain();
  }

  private stopPacketizer(): void {
    const p = this.packetizer;
    this.packetizer = undefined;
    p?.stop();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.unsubscribe();
    this.clearDirect();
    this.stopPacketizer();
    this.setLatest(undefined);
    this.viewers.clear();
  }

  view(): Record<string, unknown> {
    return { mode: this.mode, viewers: this.viewers.size, generation: this.generation };
  }
}
