// A WHIP publisher for tests: werift sends RTP produced by an ffmpeg test-pattern encoder
// (H.264 or VP8 video, Opus audio) to a Wharf WHIP endpoint, all on 127.0.0.1.
import { withoutDefaultStun } from "../../media/webrtc/peer.ts";
import { h264PayloadIsKeyframe } from "../../media/webrtc/rtp.ts";
import dgram from "node:dgram";
import { MediaStreamTrack, RTCPeerConnection, useH264, useOPUS, useVP8 } from "werift";
import { spawnFfmpeg, type FfmpegProcess } from "../../core/ffmpeg.ts";

export interface WhipPublishOptions {
  codec?: "H264" | "VP8";
  audio?: boolean;
  size?: string;
  fps?: number;
  bitrate?: string;
  /** Draw the frame number (content checks). */
  overlay?: boolean;
  /** Called with each RTP packet handed to werift (benchmarks). */
  onSend?: (kind: "video" | "audio", packet: Buffer) => void;
}

export interface WhipPublisher {
  status: number;
  location?: string;
  etag?: string;
  answer?: string;
  error?: unknown;
  pc: RTCPeerConnection;
  encoder?: FfmpegProcess;
  packetsSent(): number;
  /** DELETE the session resource, then close everything. */
  stop(opts?: { delete?: boolean }): Promise<number | undefined>;
}

export function loopbackPeer(codecs: { video?: "H264" | "VP8"; audio?: boolean }): RTCPeerConnection {
  return new RTCPeerConnection({
    iceServers: [],
    bundlePolicy: "max-bundle",
    iceAdditionalHostAddresses: ["127.0.0.1"],
    iceInterfaceAddresses: { udp4: "127.0.0.1" },
    iceUseIpv6: false,
    iceFilterCandidatePair: (pair) => pair.localCandidate.host.startsWith("127.") && pair.remoteCandidate.host.startsWith("127."),
    codecs: {
      video: codecs.video === "VP8" ? [useVP8()] : codecs.video === "H264" ? [useH264()] : [],
      audio: codecs.audio ? [useOPUS()] : [],
    },
  });
}

export async function gathered(pc: RTCPeerConnection): Promise<string> {
  if (pc.iceGatheringState !== "complete") {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 3000);
      pc.iceGatheringStateChange.subscribe((s) => {
        if (s === "complete") {
          clearTimeout(t);
          resolve();
        }
      });
    });
  }
  return pc
    .localDescription!.sdp.split("\r\n")
    .filter((l) => !l.startsWith("a=candidate:") || (l.split(" ")[4] ?? "").startsWith("127."))
    .join("\r\n");
}

export function connected(pc: RTCPeerConnection, timeoutMs = 10000): Promise<boolean> {
  if (pc.connectionState === "connected") return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") {
        clearTimeout(t);
        resolve(true);
      } else if (s === "failed" || s === "closed") {
        clearTimeout(t);
        resolve(false);
      }
    });
  });
}

async function rtpSink(track: MediaStreamTrack, count: (m: Buffer) => void): Promise<dgram.Socket> {
  const s = dgram.createSocket("udp4");
  s.on("message", (m: Buffer) => {
    try {
      count(m);
      track.writeRtp(m);
    } catch {
      /* ignore */
    }
  });
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", () => resolve()));
  return s;
}

/** Starts publishing to `url` (a /whip endpoint) with `streamKey`. Resolves after the POST (and ICE when accepted). */
export async function publishWhip(url: string, streamKey: string | undefined, opts: WhipPublishOptions = {}): Promise<WhipPublisher> {
  const codec = opts.codec ?? "H264";
  const audio = opts.audio ?? true;
  const pc = loopbackPeer({ video: codec, audio });
  const video = new MediaStreamTrack({ kind: "video" });
  const sound = new MediaStreamTrack({ kind: "audio" });
  pc.addTransceiver(video, { direction: "sendonly" });
  if (audio) pc.addTransceiver(sound, { direction: "sendonly" });
  const localOffer = await pc.createOffer();
  withoutDefaultStun(pc);
  await pc.setLocalDescription(localOffer);
  const offer = await gathered(pc);
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/sdp", ...(streamKey ? { authorization: `Bearer ${streamKey}` } : {}) },
    body: offer,
  });
  const text = await res.text();
  let sent = 0;
  const sockets: dgram.Socket[] = [];
  const pub: WhipPublisher = {
    status: res.status,
    pc,
    packetsSent: () => sent,
    async stop(o = {}) {
      let status: number | undefined;
      if (o.delete !== false && pub.location) {
        status = (await fetch(new URL(pub.location, url), { method: "DELETE" }).catch(() => undefined))?.status;
      }
      await pub.encoder?.stop(500);
      for (const s of sockets.splice(0)) s.close();
      await pc.close().catch(() => {});
      return status;
    },
  };
  if (res.status !== 201) {
    try {
      pub.error = JSON.parse(text);
    } catch {
      pub.error = text;
    }
    await pc.close().catch(() => {});
    return pub;
  }
  pub.location = res.headers.get("location") ?? undefined;
  pub.etag = res.headers.get("etag") ?? undefined;
  pub.answer = text;
  await pc.setRemoteDescription({ type: "answer", sdp: text });
  if (!(await connected(pc))) throw new Error("WHIP test publisher did not connect");

  const vs = await rtpSink(video, (m) => {
    sent++;
    opts.onSend?.("video", m);
  });
  sockets.push(vs);
  const as = audio
    ? await rtpSink(sound, (m) => {
        sent++;
        opts.onSend?.("audio", m);
      })
    : undefined;
  if (as) sockets.push(as);
  const fps = opts.fps ?? 30;
  const port = (s: dgram.Socket) => (s.address() as { port: number }).port;
  const vcodec =
    codec === "H264"
      ? ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", String(fps), "-bsf:v", "dump_extra"]
      : ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", String(fps), "-auto-alt-ref", "0", "-lag-in-frames", "0", "-error-resilient", "1"];
  const args = [
    "-hide_banner", "-loglevel", "error", "-re",
    "-f", "lavfi", "-i", `testsrc2=size=${opts.size ?? "640x360"}:rate=${fps}`,
    ...(audio ? ["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"] : []),
    "-map", "0:v",
    ...(opts.overlay ? ["-vf", "drawtext=text='%{n}':x=10:y=10:fontsize=40:fontcolor=white:box=1:boxcolor=black"] : []),
    ...vcodec, "-b:v", opts.bitrate ?? "1000k",
    "-f", "rtp", "-payload_type", "96", `rtp://127.0.0.1:${port(vs)}?pkt_size=1200`,
    ...(as ? ["-map", "1:a", "-c:a", "libopus", "-b:a", "64k", "-ar", "48000", "-ac", "2", "-f", "rtp", "-payload_type", "111", `rtp://127.0.0.1:${port(as)}?pkt_size=1200`] : []),
  ];
  pub.encoder = spawnFfmpeg(args, { label: "whip test encoder" });
  return pub;
}

export interface WhepPlayer {
  status: number;
  location?: string;
  error?: unknown;
  pc: RTCPeerConnection;
  /** ms from POST to the first video keyframe packet (undefined until then). */
  firstKeyframeMs?: number;
  connectedMs?: number;
  firstPacketMs?: number;
  /** ms from start to the offer being ready, and to the 201 answer. */
  offerMs?: number;
  answeredMs?: number;
  video: { packets: number; lost: number; keyframes: number; tsBackwards: number; bytes: number; ssrcs: Set<number> };
  audio: { packets: number; lost: number };
  stop(opts?: { delete?: boolean }): Promise<number | undefined>;
}


/** A werift WHEP viewer that counts what it receives (packets, sequence gaps, keyframes). */
export async function playWhep(url: string, opts: { audio?: boolean; onPacket?: (kind: string, payload: Buffer) => void } = {}): Promise<WhepPlayer> {
  const audio = opts.audio ?? true;
  const pc = loopbackPeer({ video: "H264", audio });
  const t0 = Date.now();
  const player: WhepPlayer = {
    status: 0,
    pc,
    video: { packets: 0, lost: 0, keyframes: 0, tsBackwards: 0, bytes: 0, ssrcs: new Set() },
    audio: { packets: 0, lost: 0 },
    async stop(o = {}) {
      let status: number | undefined;
      if (o.delete !== false && player.location) {
        status = (await fetch(new URL(player.location, url), { method: "DELETE" }).catch(() => undefined))?.status;
      }
      await pc.close().catch(() => {});
      return status;
    },
  };
  let lastV: number | undefined;
  let lastVts: number | undefined;
  let lastA: number | undefined;
  pc.onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp) => {
      try {
        const seq = rtp.header.sequenceNumber;
        opts.onPacket?.(track.kind, rtp.payload);
        if (track.kind === "video") {
          const v = player.video;
          player.firstPacketMs ??= Date.now() - t0;
          v.packets++;
          v.bytes += rtp.payload.length;
          v.ssrcs.add(rtp.header.ssrc);
          if (lastV !== undefined) {
            const d = (seq - lastV + 0x10000) % 0x10000;
            if (d > 1 && d < 0x8000) v.lost += d - 1;
          }
          if (lastV === undefined || ((seq - lastV + 0x10000) % 0x10000) < 0x8000) lastV = seq;
          const ts = rtp.header.timestamp;
          if (lastVts !== undefined && ts !== lastVts && ((ts - lastVts + 2 ** 32) % 2 ** 32) > 2 ** 31) v.tsBackwards++;
          lastVts = ts;
          if (h264PayloadIsKeyframe(rtp.payload)) {
            v.keyframes++;
            player.firstKeyframeMs ??= Date.now() - t0;
          }
        } else {
          player.audio.packets++;
          if (lastA !== undefined) {
            const d = (seq - lastA + 0x10000) % 0x10000;
            if (d > 1 && d < 0x8000) player.audio.lost += d - 1;
          }
          lastA = seq;
        }
      } catch {
        /* ignore */
      }
    });
  });
  pc.connectionStateChange.subscribe((st) => {
    if (st === "connected") player.connectedMs ??= Date.now() - t0;
  });
  pc.addTransceiver("video", { direction: "recvonly" });
  if (audio) pc.addTransceiver("audio", { direction: "recvonly" });
  const localOffer = await pc.createOffer();
  withoutDefaultStun(pc);
  await pc.setLocalDescription(localOffer);
  const offer = await gathered(pc);
  player.offerMs = Date.now() - t0;
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/sdp" }, body: offer });
  const text = await res.text();
  player.answeredMs = Date.now() - t0;
  player.status = res.status;
  if (res.status !== 201) {
    try {
      player.error = JSON.parse(text);
    } catch {
      player.error = text;
    }
    await pc.close().catch(() => {});
    return player;
  }
  player.location = res.headers.get("location") ?? undefined;
  await pc.setRemoteDescription({ type: "answer", sdp: text });
  return player;
}
