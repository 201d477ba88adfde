// werift peer connections configured for Wharf (see the werift caveats in DESIGN.md):
// no STUN servers, candidates on the configured bind address (loopback in tests), REMB
// instead of transport-cc, and helpers that never let a callback exception escape.
import { isIPv4, isIPv6 } from "node:net";
import { RTCPeerConnection, RTCRtpCodecParameters, type RTCPeerConnectionConfig } from "werift";
import { moduleLogger } from "../../core/log.ts";
import { filterCandidates, type CodecChoice } from "./sdp.ts";

const log = moduleLogger("webrtc");

export interface NetworkOptions {
  /** The gateway's bind address: 127.0.0.1 (loopback only), 0.0.0.0/:: (all interfaces) or one address. */
  host: string;
  /** UDP port range for ICE; [0, 0] = any. */
  portMin?: number;
  portMax?: number;
}

export function isLoopback(address: string): boolean {
  return address === "::1" || address.startsWith("127.") || address === "localhost";
}

/** Which local candidate addresses a peer may use under this network config. */
export function candidateFilter(net: NetworkOptions): (address: string) => boolean {
  const host = net.host;
  if (host === "0.0.0.0" || host === "::" || host === "") return () => true;
  if (isLoopback(host)) return isLoopback;
  return (a) => a === host;
}

function codec(c: CodecChoice & { kind: "audio" | "video" }): RTCRtpCodecParameters {
  const fb = c.kind === "video" ? [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "goog-remb" }] : [];
  return new RTCRtpCodecParameters({
    mimeType: `${c.kind}/${c.name}`,
    clockRate: c.clockRate,
    channels: c.channels,
    payloadType: c.payloadType,
    parameters: c.fmtp,
    rtcpFeedback: fb,
  });
}

/** A peer connection that accepts exactly the narrowed codecs of an offer. */
export function createPeer(net: NetworkOptions, codecs: { video?: CodecChoice; audio?: CodecChoice }): RTCPeerConnection {
  const host = net.host;
  const all = host === "0.0.0.0" || host === "::" || host === "";
  const ipv6 = !all && isIPv6(host);
  const extra = all ? ["127.0.0.1"] : isLoopback(host) ? ["127.0.0.1"] : [host];
  const keep = candidateFilter(net);
  const config: RTCPeerConnectionConfig = {
    iceServers: [],
    iceAdditionalHostAddresses: extra,
    iceUseIpv6: ipv6,
    iceUseIpv4: all || isIPv4(host) || isLoopback(host),
    ...(all ? {} : { iceInterfaceAddresses: ipv6 ? { udp6: host } : { udp4: isLoopback(host) ? "127.0.0.1" : host } }),
    iceFilterCandidatePair: (pair) => {
      try {
        return keep(pair.localCandidate.host);
      } catch {
        return false;
      }
    },
    ...(net.portMin && net.portMax && net.portMax > net.portMin ? { icePortRange: [net.portMin, net.portMax] as [number, number] } : {}),
    codecs: {
      video: codecs.video ? [codec({ ...codecs.video, kind: "video" })] : [],
      audio: codecs.audio ? [codec({ ...codecs.audio, kind: "audio" })] : [],
    },
    headerExtensions: { video: [], audio: [] },
  };
  return new RTCPeerConnection(config);
}

/** Runs fn, logging instead of throwing (werift callbacks must never throw). */
export function guarded<A extends unknown[]>(label: string, fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      const r = fn(...args) as unknown;
      if (r && typeof (r as Promise<unknown>).catch === "function") {
        (r as Promise<unknown>).catch((err: Error) => log.warn({ err: err?.message }, `${label} failed`));
      }
    } catch (err) {
      log.warn({ err: (err as Error)?.message }, `${label} failed`);
    }
  };
}

/** Resolves once ICE gathering is complete (or after timeoutMs). */
export async function gatheringComplete(pc: RTCPeerConnection, timeoutMs = 2000): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state === "complete") done();
    });
    function done() {
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    }
  });
}

/** Resolves true when connected, false on failed/closed or timeout. */
export function whenConnected(pc: RTCPeerConnection, timeoutMs: number): Promise<boolean> {
  if (pc.connectionState === "connected") return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => done(false), timeoutMs);
    const sub = pc.connectionStateChange.subscribe((state) => {
      if (state === "connected") done(true);
      else if (state === "failed" || state === "closed") done(false);
    });
    function done(ok: boolean) {
      clearTimeout(timer);
      sub.unSubscribe();
      resolve(ok);
    }
  });
}

/**
 * werift's ICE layer falls back to stun.l.google.com when no STUN server is configured, even
 * with `iceServers: []`: every session would look that name up (traffic off the host), and
 * concurrent lookups queue in libuv's 4-thread pool until werift's 5 s STUN timeout — which
 * stalled simultaneous WHEP joins by 5 s. Call before setLocalDescription (gathering).
 */
export function withoutDefaultStun(pc: RTCPeerConnection): void {
  for (const t of pc.iceTransports) (t.connection as { stunServer?: unknown }).stunServer = undefined;
}

/** Applies the offer and returns the complete answer (all candidates, no trickle). */
export async function answerOffer(pc: RTCPeerConnection, offer: string, net: NetworkOptions, direction?: "sendonly" | "recvonly"): Promise<string> {
  await pc.setRemoteDescription({ type: "offer", sdp: offer });
  if (direction) for (const t of pc.getTransceivers()) t.setDirection(direction);
  withoutDefaultStun(pc);
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  await gatheringComplete(pc);
  const sdp = pc.localDescription?.sdp;
  if (!sdp) throw new Error("no local description");
  return filterCandidates(sdp, candidateFilter(net));
}

export async function closePeer(pc: RTCPeerConnection): Promise<void> {
  try {
    await pc.close();
  } catch (err) {
    log.debug({ err: (err as Error).message }, "peer close failed");
  }
}
