// WebRTC sessions of this gateway: WHIP publishers (admitted by the hub like RTMP) and
// WHEP viewers (one fan-out per watched stream).
import { createHash, timingSafeEqual } from "node:crypto";
import { moduleLogger } from "../../core/log.ts";
import { metrics } from "../../core/metrics.ts";
import type { StreamHub } from "../hub/hub.ts";
import type { StreamRecord } from "../hub/types.ts";
import { StreamFanout } from "./fanout.ts";
import type { NetworkOptions } from "./peer.ts";
import { narrowOffer, SdpError } from "./sdp.ts";
import { WhepViewer } from "./whep.ts";
import { WhipSession } from "./whip.ts";

const log = moduleLogger("webrtc");

export interface WebRtcOptions extends NetworkOptions {
  segmentDuration: number;
  /** WHEP viewers per stream. */
  maxViewers: number;
  /** Finds the stream a key belongs to (to tell "wrong stream" 403 from "unknown key" 401). */
  findStreamByKey?: (key: string) => Promise<StreamRecord | undefined>;
  connectTimeoutMs?: number;
}

export type SessionResult =
  | { ok: true; id: string; answer: string; etag: string }
  | { ok: false; status: number; message: string; headers?: Record<string, string> };

function sameSecret(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

const PROFILE_IDC: Record<string, number> = { "Constrained Baseline": 0x42, Baseline: 0x42, Main: 0x4d, High: 0x64 };

export class WebRtcService {
  readonly whip = new Map<string, WhipSession>();
  readonly whep = new Map<string, WhepViewer>();
  private readonly fanouts = new Map<string, StreamFanout>();
  /** Live WHIP H.264 publishers of passthrough streams, by stream id (WHEP forwards them directly). */
  private readonly direct = new Map<string, WhipSession>();
  private readonly fanoutTimers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly hub: StreamHub,
    private readonly opts: WebRtcOptions,
  ) {
    // Every live stream gets its (idle) fan-out at once, so it knows the segment in progress
    // and a first viewer starts from its keyframe instead of waiting for the next segment.
    hub.on("published", (stream) => {
      if (!this.stopped) this.ensureFanout(stream.id);
    });
    hub.on("unpublished", (stream) => this.maybeDropFanout(stream.id));
    hub.on("removed", (streamId) => this.closeStream(streamId));
  }

  private get net(): NetworkOptions {
    return { host: this.opts.host, portMin: this.opts.portMin, portMax: this.opts.portMax };
  }

  /** WHIP: authenticate the stream key for this stream, admit, negotiate, start ingest. */
  async publish(streamId: string, streamKey: string | undefined, sdp: unknown, remoteAddress: string): Promise<SessionResult> {
    if (this.stopped) return { ok: false, status: 503, message: "gateway is stopping" };
    if (!streamKey) {
      return { ok: false, status: 401, message: "missing Authorization: Bearer <stream key>", headers: { "www-authenticate": "Bearer" } };
    }
    const stream = this.hub.get(streamId);
    if (!stream) return { ok: false, status: 404, message: `stream ${streamId} not found` };
    if (!sameSecret(streamKey, stream.record.streamKey)) {
      const other = await this.opts.findStreamByKey?.(streamKey);
      if (other) return { ok: false, status: 403, message: "this stream key belongs to a different stream" };
      return { ok: false, status: 401, message: "invalid stream key", headers: { "www-authenticate": 'Bearer error="invalid_token"' } };
    }
    let offer;
    try {
      offer = narrowOffer(sdp, "whip");
    } catch (err) {
      if (err instanceof SdpError) return { ok: false, status: 400, message: `malformed SDP offer: ${err.message}` };
      throw err;
    }
    let session: WhipSession | undefined;
    const admitted = await this.hub.admit({
      streamKey,
      protocol: "whip",
      remoteAddress,
      disconnect: (reason) => void session?.close(reason),
    });
    if (!admitted.ok) {
      return { ok: false, status: admitted.status, message: admitted.reason };
    }
    if (admitted.ingest.stream.id !== streamId) {
      admitted.ingest.end("kicked");
      return { ok: false, status: 403, message: "this stream key belongs to a different stream" };
    }
    session = new WhipSession(admitted.ingest, offer, {
      net: this.net,
      segmentDuration: this.opts.segmentDuration,
      connectTimeoutMs: this.opts.connectTimeoutMs,
    });
    const s = session;
    let answer: string;
    try {
      answer = await s.start();
    } catch (err) {
      log.info({ stream: streamId, err: (err as Error).message }, "WHIP negotiation failed");
      if (s.endedWhileNegotiating) return { ok: false, status: 409, message: (err as Error).message };
      return { ok: false, status: 400, message: `could not negotiate the SDP offer: ${(err as Error).message}` };
    }
    if (s.closed) return { ok: false, status: 409, message: "the stream's session ended while its offer was negotiated" };
    this.whip.set(s.id, s);
    metrics.webrtcSessions.set({ kind: "whip" }, this.whip.size);
    s.once("closed", () => {
      this.whip.delete(s.id);
      metrics.webrtcSessions.set({ kind: "whip" }, this.whip.size);
      if (this.direct.get(streamId) === s) this.direct.delete(streamId);
    });
    if (s.videoCodec === "H264" && stream.record.pipeline === "passthrough") {
      s.once("connected", () => {
        if (s.closed) return;
        this.direct.set(streamId, s);
        this.fanouts.get(streamId)?.setDirect(s);
      });
    }
    log.info({ stream: streamId, session: s.id, video: s.videoCodec, audio: s.hasAudio }, "WHIP session started");
    return { ok: true, id: s.id, answer, etag: s.etag };
  }

  async endWhip(id: string): Promise<boolean> {
    const s = this.whip.get(id);
    if (!s) return false;
    await s.close("publisher-left");
    return true;
  }

  viewersOf(streamId: string): number {
    let n = 0;
    for (const v of this.whep.values()) if (v.streamId === streamId && !v.closed) n++;
    return n;
  }

  /** WHEP: negotiate a viewer of the stream's output (public, like HLS). */
  async play(streamId: string, sdp: unknown): Promise<SessionResult> {
    if (this.stopped) return { ok: false, status: 503, message: "gateway is stopping" };
    const stream = this.hub.get(streamId);
    if (!stream) return { ok: false, status: 404, message: `stream ${streamId} not found` };
    const direct = this.direct.get(streamId);
    const profileLevel = direct ? /profile-level-id=([0-9a-f]{2})/i.exec(direct.videoFmtp ?? "")?.[1] : undefined;
    const prefer = profileLevel ? parseInt(profileLevel, 16) : PROFILE_IDC[stream.source.videoProfile ?? ""];
    let offer;
    try {
      offer = narrowOffer(sdp, "whep", { preferH264ProfileIdc: prefer });
    } catch (err) {
      if (err instanceof SdpError) return { ok: false, status: 400, message: `malformed SDP offer: ${err.message}` };
      throw err;
    }
    if (this.viewersOf(streamId) >= this.opts.maxViewers) {
      return { ok: false, status: 429, message: `stream has reached its WebRTC viewer limit (${this.opts.maxViewers})`, headers: { "retry-after": "10" } };
    }
    const fanout = this.ensureFanout(streamId);
    if (!fanout) return { ok: false, status: 404, message: `stream ${streamId} not found` };
    const viewer = new WhepViewer(fanout, offer, this.net, this.opts.connectTimeoutMs);
    this.whep.set(viewer.id, viewer);
    metrics.webrtcSessions.set({ kind: "whep" }, this.whep.size);
    viewer.once("closed", () => {
      this.whep.delete(viewer.id);
      metrics.webrtcSessions.set({ kind: "whep" }, this.whep.size);
      this.maybeDropFanout(streamId);
    });
    let answer: string;
    try {
      answer = await viewer.start();
    } catch (err) {
      viewer.close();
      log.info({ stream: streamId, err: (err as Error).message }, "WHEP negotiation failed");
      return { ok: false, status: 400, message: `could not negotiate the SDP offer: ${(err as Error).message}` };
    }
    return { ok: true, id: viewer.id, answer, etag: viewer.etag };
  }

  /** The stream was deleted: close its viewers and its fan-out. */
  closeStream(streamId: string): void {
    for (const v of [...this.whep.values()]) if (v.streamId === streamId) v.close();
    clearTimeout(this.fanoutTimers.get(streamId));
    this.fanoutTimers.delete(streamId);
    this.fanouts.get(streamId)?.close();
    this.fanouts.delete(streamId);
  }

  endWhep(id: string): boolean {
    const v = this.whep.get(id);
    if (!v) return false;
    v.close();
    return true;
  }

  private ensureFanout(streamId: string): StreamFanout | undefined {
    clearTimeout(this.fanoutTimers.get(streamId));
    this.fanoutTimers.delete(streamId);
    let f = this.fanouts.get(streamId);
    if (f) return f;
    const stream = this.hub.get(streamId);
    if (!stream) return undefined;
    f = new StreamFanout(stream);
    this.fanouts.set(streamId, f);
    const direct = this.direct.get(streamId);
    if (direct && !direct.closed) f.setDirect(direct);
    return f;
  }

  private maybeDropFanout(streamId: string): void {
    const busy = () => this.viewersOf(streamId) > 0 || this.hub.get(streamId)?.live === true;
    if (busy() || this.fanoutTimers.has(streamId)) return;
    const t = setTimeout(() => {
      this.fanoutTimers.delete(streamId);
      if (busy()) return;
      this.fanouts.get(streamId)?.close();
      this.fanouts.delete(streamId);
    }, 10000);
    t.unref();
    this.fanoutTimers.set(streamId, t);
  }

  status(streamId: string): Record<string, unknown> {
    return {
      viewers: this.viewersOf(streamId),
      fanout: this.fanouts.get(streamId)?.view() ?? null,
      publisher: [...this.whip.values()].find((s) => s.streamId === streamId)?.view() ?? null,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const v of this.whep.values()) v.close();
    await Promise.allSettled([...this.whip.values()].map((s) => s.close("shutdown")));
    for (const f of this.fanouts.values()) f.close();
    this.fanouts.clear();
    for (const t of this.fanoutTimers.values()) clearTimeout(t);
  }
}
