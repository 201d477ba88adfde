// One WHIP publisher: werift receives RTP, forwards it over loopback UDP to an ffmpeg that
// reads an SDP file and writes MPEG-TS into the Segmenter, whose segments feed the hub.
// H.264 is copied (keyframes requested by PLI every segment duration); VP8 is encoded to
// H.264 with forced keyframes; Opus becomes AAC. The raw RTP is also offered to WHEP
// (direct forwarding for H.264 passthrough streams).
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type dgram from "node:dgram";
import type { MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver, RtpPacket } from "werift";
import { moduleLogger } from "../../core/log.ts";
import type { IngestHandle } from "../hub/hub.ts";
import type { EndReason } from "../hub/types.ts";
import { Segmenter } from "../segmenter/segmenter.ts";
import { answerOffer, closePeer, createPeer, guarded, whenConnected, type NetworkOptions } from "./peer.ts";
import { h264RtpIsKeyframe, vp8RtpIsKeyframe } from "./rtp.ts";
import { ffmpegInputSdp, withVideoBitrateHints, type NarrowedOffer } from "./sdp.ts";
import { closeSocket, loopbackSocket, reserveRtpPort } from "./udp.ts";

const log = moduleLogger("whip");

export interface WhipOptions {
  net: NetworkOptions;
  segmentDuration: number;
  /** ICE+DTLS must complete within this. */
  connectTimeoutMs?: number;
}

export interface WhipEvents {
  /** A video RTP packet (raw bytes) and whether it starts a keyframe. */
  video: [Buffer, boolean];
  audio: [Buffer];
  connected: [];
  closed: [EndReason];
}

export class WhipSession extends EventEmitter<WhipEvents> {
  readonly id = randomUUID();
  readonly etag = `"${randomUUID().slice(0, 8)}"`;
  readonly createdAt = Date.now();
  readonly videoCodec: "H264" | "VP8";
  readonly hasAudio: boolean;
  connected = false;
  closed = false;
  /** start() failed because the stream ended meanwhile (not because of the offer). */
  endedWhileNegotiating = false;
  packetsIn = 0;
  keyframes = 0;
  private pc!: RTCPeerConnection;
  private segmenter?: Segmenter;
  private out?: dgram.Socket;
  private videoPort = 0;
  private audioPort = 0;
  private tmpDir?: string;
  private started = false;
  private videoReceiver?: RTCRtpReceiver;
  private videoSsrc?: number;
  private lastKeyframeAt = 0;
  private lastPliAt = 0;
  private timer?: NodeJS.Timeout;
  private keepAlive?: NodeJS.Timeout;

  constructor(
    readonly ingest: IngestHandle,
    private readonly offer: NarrowedOffer,
    private readonly opts: WhipOptions,
  ) {
    super();
    this.videoCodec = offer.video!.codec;
    this.hasAudio = offer.audio !== undefined;
  }

  get videoFmtp(): string | undefined {
    return this.offer.video?.fmtp;
  }

  get streamId(): string {
    return this.ingest.stream.id;
  }

  /** Negotiates and starts ffmpeg; returns the SDP answer. Throws (after cleaning up) on failure. */
  async start(): Promise<string> {
    try {
      this.pc = createPeer(this.opts.net, { video: this.offer.video, audio: this.offer.audio });
      this.pc.onTrack.subscribe(guarded("whip onTrack", (track: MediaStreamTrack) => this.onTrack(track)));
      this.pc.connectionStateChange.subscribe(
        guarded("whip state", (state: string) => {
          if (state === "failed" || state === "closed") void this.close("publisher-left");
        }),
      );
      const answer = withVideoBitrateHints(await answerOffer(this.pc, this.offer.sdp, this.opts.net, "recvonly"), 2000, 6000);
      this.throwIfClosed();
      this.videoReceiver = this.pc.getTransceivers().find((t) => t.kind === "video")?.receiver;
      await this.startFfmpeg();
      // ICE/DTLS may take a moment: keep the hub's publisher watchdog quiet until media flows.
      this.keepAlive = setInterval(() => this.ingest.touch(0), 250);
      void this.awaitConnection();
      return answer;
    } catch (err) {
      await this.close("failed");
      throw err;
    }
  }

  /**
   * The stream was ended (deleted, its key revoked, the publisher timed out) while the offer was
   * negotiated: nothing more is started for it (no ffmpeg waiting on UDP for good).
   */
  private throwIfClosed(): void {
    if (!this.closed) return;
    this.endedWhileNegotiating = true;
    throw new Error("the stream's session ended while its offer was negotiated");
  }

  private async startFfmpeg(): Promise<void> {
    this.out = await loopbackSocket();
    this.videoPort = await reserveRtpPort();
    if (this.offer.audio) this.audioPort = await reserveRtpPort();
    if (this.closed) closeSocket(this.out); // made after close() ran: nobody else releases it
    this.throwIfClosed();
    this.tmpDir = mkdtempSync(join(tmpdir(), "wharf-whip-"));
    const sdpPath = join(this.tmpDir, "input.sdp");
    writeFileSync(
      sdpPath,
      ffmpegInputSdp(
        { port: this.videoPort, codec: this.offer.video! },
        this.offer.audio ? { port: this.audioPort, codec: this.offer.audio } : undefined,
      ),
    );
    const d = this.opts.segmentDuration;
    const audioArgs = this.offer.audio ? ["-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"] : [];
    const videoArgs =
      this.videoCodec === "H264"
        ? ["-c:v", "copy"]
        : [
            "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
            "-crf", "23", "-maxrate", "4M", "-bufsize", "4M", "-g", "600",
            "-force_key_frames", `expr:gte(t,n_forced*${d})`,
          ];
    const ingest = this.ingest;
    this.segmenter = new Segmenter({
      inputArgs: ["-protocol_whitelist", "file,udp,rtp", "-reorder_queue_size", "64", "-f", "sdp", "-i", sdpPath],
      codecArgs: [...videoArgs, ...audioArgs],
      targetDuration: d,
      label: `whip-segmenter ${ingest.stream.id}`,
      onSegment: (seg) => ingest.pushSegment(seg),
      onExit: (code, stderr) => {
        if (this.closed) return;
        log.warn({ stream: ingest.stream.id, code, stderr: stderr.slice(-500) }, "segmenter stopped; ending WHIP ingest");
        void this.close("failed");
      },
    });
  }

  private async awaitConnection(): Promise<void> {
    const ok = await whenConnected(this.pc, this.opts.connectTimeoutMs ?? 10000);
    clearInterval(this.keepAlive);
    if (this.closed) return;
    if (!ok) {
      log.info({ stream: this.streamId, session: this.id }, "WHIP peer did not connect");
      void this.close(this.pc.connectionState === "closed" ? "publisher-left" : "failed");
      return;
    }
    this.connected = true;
    this.ingest.touch(0);
    this.emit("connected");
    this.requestKeyframe(true);
    // H.264 is copied: ask for a keyframe once a segment duration has passed since the last one.
    this.timer = setInterval(
      guarded("whip keyframe timer", () => {
        const now = Date.now();
        if (!this.started) {
          if (now - this.lastPliAt > 500) this.requestKeyframe(true);
          return;
        }
        if (this.videoCodec === "H264" && now - this.lastKeyframeAt >= this.opts.segmentDuration * 1000) this.requestKeyframe();
      }),
      50,
    );
  }

  private onTrack(track: MediaStreamTrack): void {
    const kind = track.kind;
    track.onReceiveRtp.subscribe(
      guarded("whip rtp", (rtp: RtpPacket) => {
        if (this.closed) return;
        const buf = rtp.serialize();
        this.packetsIn++;
        this.ingest.touch(buf.length);
        if (kind === "video") this.onVideo(buf, rtp.header.ssrc);
        else if (kind === "audio") this.onAudio(buf);
      }),
    );
  }

  private onVideo(buf: Buffer, ssrc: number): void {
    this.videoSsrc = ssrc;
    const key = this.videoCodec === "H264" ? h264RtpIsKeyframe(buf) : vp8RtpIsKeyframe(buf);
    if (key) {
      this.lastKeyframeAt = Date.now();
      this.keyframes++;
      this.started = true; // ffmpeg starts at a keyframe (H.264: with its SPS/PPS)
    }
    if (!this.started) return;
    this.send(buf, this.videoPort);
    this.emit("video", buf, key);
  }

  private onAudio(buf: Buffer): void {
    if (!this.started) return;
    this.send(buf, this.audioPort);
    this.emit("audio", buf);
  }

  private send(buf: Buffer, port: number): void {
    if (!port || !this.out) return;
    this.out.send(buf, port, "127.0.0.1", () => {});
  }

  /** Sends a PLI to the publisher (rate-limited unless forced). */
  requestKeyframe(force = false): void {
    const now = Date.now();
    if (!force && now - this.lastPliAt < 300) return;
    if (!this.videoReceiver || this.videoSsrc === undefined || this.closed) return;
    this.lastPliAt = now;
    this.videoReceiver.sendRtcpPLI(this.videoSsrc).catch(() => {});
  }

  /** Ends the session: peer, ffmpeg (flushing its last segment), then the hub ingest. Idempotent. */
  async close(reason: EndReason): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearInterval(this.keepAlive);
    log.info({ stream: this.streamId, session: this.id, reason }, "WHIP session closing");
    const seg = this.segmenter;
    if (seg) {
      // Stopping (SIGTERM, SIGKILL after 500 ms) ends the splitter's last segment cleanly.
      await Promise.race([seg.stop(), new Promise((r) => setTimeout(r, 700))]);
    }
    const pc = this.pc;
    if (pc) void closePeer(pc);
    closeSocket(this.out);
    this.ingest.end(reason);
    if (this.tmpDir) rmSync(this.tmpDir, { recursive: true, force: true });
    this.emit("closed", reason);
  }

  view(): Record<string, unknown> {
    return {
      id: this.id,
      stream: this.streamId,
      videoCodec: this.videoCodec,
      audio: this.hasAudio,
      connected: this.connected,
      packetsIn: this.packetsIn,
      keyframes: this.keyframes,
    };
  }
}
