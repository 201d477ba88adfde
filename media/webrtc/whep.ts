// One WHEP viewer: a werift peer that sends H.264 + Opus, fed by the stream's fan-out.
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import type { RTCPeerConnection, RTCRtpSender } from "werift";
import { moduleLogger } from "../../core/log.ts";
import type { FanoutViewer, StreamFanout } from "./fanout.ts";
import { answerOffer, closePeer, createPeer, guarded, whenConnected, type NetworkOptions } from "./peer.ts";
import { RtpRewriter } from "./rtp.ts";
import type { NarrowedOffer } from "./sdp.ts";

const log = moduleLogger("whep");

export class WhepViewer extends EventEmitter<{ closed: [] }> implements FanoutViewer {
  readonly id = randomUUID();
  readonly etag = `"${randomUUID().slice(0, 8)}"`;
  readonly createdAt = Date.now();
  started = false;
  connected = false;
  closed = false;
  connectedAt = 0;
  videoSent = 0;
  audioSent = 0;
  plis = 0;
  private pc!: RTCPeerConnection;
  private videoSender?: RTCRtpSender;
  private audioSender?: RTCRtpSender;
  private readonly videoRw = new RtpRewriter(90000, 3000);
  private readonly audioRw = new RtpRewriter(48000, 960);

  constructor(
    readonly fanout: StreamFanout,
    private readonly offer: NarrowedOffer,
    private readonly net: NetworkOptions,
    private readonly connectTimeoutMs = 10000,
  ) {
    super();
  }

  get streamId(): string {
    return this.fanout.stream.id;
  }

  async start(): Promise<string> {
    try {
      this.pc = createPeer(this.net, { video: this.offer.video, audio: this.offer.audio });
      this.pc.connectionStateChange.subscribe(
        guarded("whep state", (state: string) => {
          if (state === "failed" || state === "closed") this.close();
        }),
      );
      const answer = await answerOffer(this.pc, this.offer.sdp, this.net, "sendonly");
      for (const t of this.pc.getTransceivers()) {
        if (t.kind === "video" && !this.videoSender) this.videoSender = t.sender;
        if (t.kind === "audio" && !this.audioSender) this.audioSender = t.sender;
      }
      this.videoSender?.onPictureLossIndication.subscribe(
        guarded("whep pli", () => {
          this.plis++;
          this.fanout.onViewerPli(this);
        }),
      );
      void this.awaitConnection();
      return answer;
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private async awaitConnection(): Promise<void> {
    const ok = await whenConnected(this.pc, this.connectTimeoutMs);
    if (this.closed) return;
    if (!ok) {
      log.info({ stream: this.streamId, viewer: this.id }, "WHEP peer did not connect");
      this.close();
      return;
    }
    this.connected = true;
    this.connectedAt = Date.now();
    this.fanout.addViewer(this);
    log.debug({ stream: this.streamId, viewer: this.id, mode: this.fanout.mode }, "WHEP viewer connected");
  }

  sendVideo(packet: Buffer, generation: number): void {
    const s = this.videoSender;
    if (!s || this.closed) return;
    this.videoSent++;
    s.sendRtp(this.videoRw.rewrite(packet, generation)).catch(() => {});
  }

  sendAudio(packet: Buffer, generation: number): void {
    const s = this.audioSender;
    if (!s || this.closed) return;
    this.audioSent++;
    s.sendRtp(this.audioRw.rewrite(packet, generation)).catch(() => {});
  }

  resyncVideo(): void {
    this.videoRw.resync();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fanout.removeViewer(this);
    log.debug({ stream: this.streamId, viewer: this.id, videoSent: this.videoSent, audioSent: this.audioSent, plis: this.plis }, "WHEP viewer closed");
    if (this.pc) void closePeer(this.pc);
    this.emit("closed");
  }

  view(): Record<string, unknown> {
    return { id: this.id, stream: this.streamId, connected: this.connected, videoSent: this.videoSent, audioSent: this.audioSent, plis: this.plis };
  }
}
