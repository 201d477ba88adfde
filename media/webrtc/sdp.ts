// SDP checks and rewriting for WHIP/WHEP offers, and the SDP file ffmpeg reads RTP with.
// werift negotiates every offered payload type whose mime type it knows, in the offer's
// order, and mirrors the offer's rtcp-fb lines. So offers are narrowed here first: one
// video codec (H.264 packetization-mode=1 preferred, else VP8), Opus audio, no
// transport-cc (werift's feedback held Chromium at 300 kbit/s), goog-remb advertised.

export class SdpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SdpError";
  }
}

export type VideoCodecName = "H264" | "VP8";

export interface CodecChoice {
  payloadType: number;
  name: string;
  clockRate: number;
  channels?: number;
  fmtp?: string;
}

export interface MediaSection {
  kind: string;
  /** The m= line. */
  mline: string;
  /** Attribute and other lines after the m= line. */
  lines: string[];
}

export interface ParsedSdp {
  session: string[];
  media: MediaSection[];
}

const MAX_SDP = 64 * 1024;
const MLINE = /^m=(audio|video|application|text|message) (\d+)(?:\/\d+)? ([A-Za-z0-9/_]+)((?: [A-Za-z0-9_-]+)*)$/;

/** Splits and sanity-checks an SDP offer; throws SdpError naming the problem. */
export function parseSdp(text: unknown): ParsedSdp {
  if (typeof text !== "string" || text.trim() === "") throw new SdpError("empty SDP body");
  if (text.length > MAX_SDP) throw new SdpError("SDP too large");
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(text)) throw new SdpError("SDP contains control characters");
  const lines = text.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l !== "");
  if (lines[0] !== "v=0") throw new SdpError('SDP must start with "v=0"');
  for (const l of lines) {
    if (!/^[a-z]=/.test(l)) throw new SdpError(`malformed SDP line: ${JSON.stringify(l.slice(0, 60))}`);
  }
  const parsed: ParsedSdp = { session: [], media: [] };
  let current: MediaSection | undefined;
  for (const l of lines) {
    if (l.startsWith("m=")) {
      const m = MLINE.exec(l);
      if (!m) throw new SdpError(`malformed m= line: ${JSON.stringify(l.slice(0, 80))}`);
      current = { kind: m[1]!, mline: l, lines: [] };
      parsed.media.push(current);
    } else if (current) current.lines.push(l);
    else parsed.session.push(l);
  }
  if (parsed.media.length === 0) throw new SdpError("SDP has no media (m=) section");
  if (parsed.media.length > 16) throw new SdpError("SDP has too many media sections");
  const has = (prefix: string, m: MediaSection) =>
    m.lines.some((l) => l.startsWith(prefix)) || parsed.session.some((l) => l.startsWith(prefix));
  for (const m of parsed.media) {
    if (m.mline.split(" ")[1] === "0") continue; // rejected/disabled section
    if (!has("a=ice-ufrag:", m) || !has("a=ice-pwd:", m)) throw new SdpError(`${m.kind} section lacks ICE credentials (a=ice-ufrag/a=ice-pwd)`);
    if (!has("a=fingerprint:", m)) throw new SdpError(`${m.kind} section lacks a DTLS fingerprint`);
    for (const l of m.lines) {
      if (l.startsWith("a=rtpmap:") && !/^a=rtpmap:\d{1,3} [A-Za-z0-9_.-]+\/\d+(\/\d+)?$/.test(l)) {
        throw new SdpError(`malformed rtpmap: ${JSON.stringify(l.slice(0, 80))}`);
      }
    }
  }
  return parsed;
}

export function serializeSdp(sdp: ParsedSdp): string {
  const out = [...sdp.session];
  for (const m of sdp.media) out.push(m.mline, ...m.lines);
  return out.join("\r\n") + "\r\n";
}

function payloadTypes(m: MediaSection): number[] {
  return m.mline.split(" ").slice(3).map(Number).filter((n) => Number.isInteger(n));
}

export function codecsOf(m: MediaSection): CodecChoice[] {
  const out: CodecChoice[] = [];
  for (const pt of payloadTypes(m)) {
    const map = m.lines.find((l) => l.startsWith(`a=rtpmap:${pt} `));
    if (!map) continue;
    const [name, rate, ch] = map.slice(`a=rtpmap:${pt} `.length).split("/");
    const fmtp = m.lines.find((l) => l.startsWith(`a=fmtp:${pt} `))?.slice(`a=fmtp:${pt} `.length);
    out.push({ payloadType: pt, name: name!, clockRate: Number(rate), channels: ch ? Number(ch) : undefined, fmtp });
  }
  return out;
}

function fmtpParams(fmtp: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (fmtp ?? "").split(";")) {
    const [k, v] = part.trim().split("=");
    if (k) out[k.toLowerCase()] = v ?? "";
  }
  return out;
}

/** Picks the H.264 payload type to use: packetization-mode=1, preferring the given profile_idc, then 42e01f. */
export function pickH264(codecs: CodecChoice[], preferProfileIdc?: number): CodecChoice | undefined {
  const h264 = codecs.filter((c) => c.name.toUpperCase() === "H264" && fmtpParams(c.fmtp)["packetization-mode"] === "1");
  const profile = (c: CodecChoice) => fmtpParams(c.fmtp)["profile-level-id"]?.toLowerCase() ?? "";
  if (preferProfileIdc !== undefined) {
    const hex = preferProfileIdc.toString(16).padStart(2, "0");
    const match = h264.find((c) => profile(c).startsWith(hex));
    if (match) return match;
  }
  return h264.find((c) => profile(c).startsWith("42e0")) ?? h264.find((c) => profile(c).startsWith("42")) ?? h264[0];
}

/** Keeps only `keep` (and its RTX) in a media section; drops transport-cc and adds goog-remb for video. */
function narrowSection(m: MediaSection, keep: CodecChoice): void {
  const codecs = codecsOf(m);
  const rtx = codecs.find((c) => c.name.toLowerCase() === "rtx" && fmtpParams(c.fmtp)["apt"] === String(keep.payloadType));
  const pts = new Set([keep.payloadType, ...(rtx ? [rtx.payloadType] : [])]);
  const parts = m.mline.split(" ");
  m.mline = [...parts.slice(0, 3), ...[...pts].map(String)].join(" ");
  m.lines = m.lines.filter((l) => {
    const pt = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)/.exec(l);
    if (pt && !pts.has(Number(pt[1]))) return false;
    if (/^a=rtcp-fb:\d+ transport-cc/.test(l)) return false;
    if (/^a=extmap:\d+(\/\w+)? .*transport-wide-cc/.test(l)) return false;
    return true;
  });
  if (m.kind === "video" && !m.lines.some((l) => l === `a=rtcp-fb:${keep.payloadType} goog-remb`)) {
    const at = m.lines.findIndex((l) => l.startsWith(`a=rtpmap:${keep.payloadType} `));
    m.lines.splice(at + 1, 0, `a=rtcp-fb:${keep.payloadType} goog-remb`);
  }
}

export interface NarrowedOffer {
  sdp: string;
  video?: CodecChoice & { codec: VideoCodecName };
  audio?: CodecChoice;
}

function active(m: MediaSection): boolean {
  return m.mline.split(" ")[1] !== "0";
}

/**
 * Narrows an offer to the codecs Wharf handles. For WHIP (publisher sends) H.264 then VP8 are
 * accepted; for WHEP (Wharf sends) only H.264. Audio is Opus only. Throws SdpError when the
 * offer has no usable video.
 */
export function narrowOffer(text: unknown, role: "whip" | "whep", opts: { preferH264ProfileIdc?: number } = {}): NarrowedOffer {
  const sdp = parseSdp(text);
  const result: NarrowedOffer = { sdp: "" };
  for (const m of sdp.media) {
    if (!active(m)) continue;
    if (m.kind === "video" && !result.video) {
      const codecs = codecsOf(m);
      const h264 = pickH264(codecs, opts.preferH264ProfileIdc);
      const vp8 = role === "whip" ? codecs.find((c) => c.name.toUpperCase() === "VP8") : undefined;
      const chosen = h264 ? { ...h264, codec: "H264" as const } : vp8 ? { ...vp8, codec: "VP8" as const } : undefined;
      if (!chosen) {
        throw new SdpError(role === "whip" ? "offer has no H.264 (packetization-mode=1) or VP8 video" : "offer cannot receive H.264 (packetization-mode=1) video");
      }
      narrowSection(m, chosen);
      result.video = chosen;
    } else if (m.kind === "audio" && !result.audio) {
      const opus = codecsOf(m).find((c) => c.name.toLowerCase() === "opus" && c.clockRate === 48000);
      if (opus) {
        narrowSection(m, opus);
        result.audio = opus;
      }
    }
  }
  if (!result.video) throw new SdpError("offer has no video section");
  const direction = (kind: string) => {
    const m = sdp.media.find((x) => x.kind === kind && active(x));
    return m?.lines.find((l) => /^a=(sendrecv|sendonly|recvonly|inactive)$/.test(l))?.slice(2) ?? sdp.session.find((l) => /^a=(sendrecv|sendonly|recvonly|inactive)$/.test(l))?.slice(2) ?? "sendrecv";
  };
  const vdir = direction("video");
  if (role === "whip" && !(vdir === "sendonly" || vdir === "sendrecv")) throw new SdpError(`WHIP offer video must be sendonly or sendrecv, not ${vdir}`);
  if (role === "whep" && !(vdir === "recvonly" || vdir === "sendrecv")) throw new SdpError(`WHEP offer video must be recvonly or sendrecv, not ${vdir}`);
  result.sdp = serializeSdp(sdp);
  return result;
}

/** Drops ICE candidates whose address fails `keep` (e.g. non-loopback candidates when bound to 127.0.0.1). */
export function filterCandidates(sdp: string, keep: (address: string) => boolean): string {
  return sdp
    .split(/\r\n/)
    .filter((l) => {
      if (!l.startsWith("a=candidate:")) return true;
      const address = l.split(" ")[4];
      return address ? keep(address) : false;
    })
    .join("\r\n");
}

/** The SDP ffmpeg reads plain RTP from (one port per stream, RTCP on port+1). */
export function ffmpegInputSdp(video: { port: number; codec: CodecChoice & { codec: VideoCodecName } }, audio?: { port: number; codec: CodecChoice }): string {
  const lines = ["v=0", "o=- 0 0 IN IP4 127.0.0.1", "s=wharf-whip", "c=IN IP4 127.0.0.1", "t=0 0"];
  const v = video.codec;
  lines.push(`m=video ${video.port} RTP/AVP ${v.payloadType}`, `a=rtpmap:${v.payloadType} ${v.codec}/90000`);
  if (v.codec === "H264") {
    const params = fmtpParams(v.fmtp);
    const fmtp = ["packetization-mode=1", ...(params["sprop-parameter-sets"] ? [`sprop-parameter-sets=${params["sprop-parameter-sets"]}`] : [])];
    lines.push(`a=fmtp:${v.payloadType} ${fmtp.join(";")}`);
  }
  if (audio) {
    const a = audio.codec;
    lines.push(`m=audio ${audio.port} RTP/AVP ${a.payloadType}`, `a=rtpmap:${a.payloadType} opus/48000/2`);
    if (a.fmtp) lines.push(`a=fmtp:${a.payloadType} ${a.fmtp}`);
  }
  return lines.join("\n") + "\n";
}

/**
 * Chromium reads `x-google-start-bitrate` / `x-google-max-bitrate` (kbit/s) from the remote
 * description's video fmtp. werift sends no REMB/transport-cc estimate, so without a start bitrate
 * a browser publisher begins at ~300 kbit/s and climbs only ~8 %/s; this lets it start near the
 * quality a gateway ingest expects. Other browsers ignore the parameters.
 */
export function withVideoBitrateHints(sdp: string, startKbps: number, maxKbps: number): string {
  const hint = `x-google-start-bitrate=${startKbps};x-google-max-bitrate=${maxKbps}`;
  const lines = sdp.split("\r\n");
  const trailing = lines.at(-1) === "" ? lines.pop() : undefined;
  const out: string[] = [];
  let videoPts: string[] = [];
  const withFmtp = new Set<string>();
  // Media payloads of the video section that had no fmtp line get one (RTX keeps its own).
  const closeVideo = () => {
    for (const pt of videoPts) if (!withFmtp.has(pt) && !isRtx(sdp, pt)) out.push(`a=fmtp:${pt} ${hint}`);
    videoPts = [];
    withFmtp.clear();
  };
  for (const line of lines) {
    if (line.startsWith("m=")) {
      closeVideo();
      if (line.startsWith("m=video")) videoPts = line.split(" ").slice(3).filter((pt) => /^\d+$/.test(pt));
    }
    const fmtp = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (fmtp && videoPts.includes(fmtp[1]!)) {
      withFmtp.add(fmtp[1]!);
      if (!/(^|;)apt=/.test(fmtp[2]!) && !fmtp[2]!.includes("x-google-start-bitrate")) {
        out.push(`${line};${hint}`);
        continue;
      }
    }
    out.push(line);
  }
  closeVideo();
  if (trailing !== undefined) out.push(trailing);
  return out.join("\r\n");
}

function isRtx(sdp: string, pt: string): boolean {
  return new RegExp(`^a=rtpmap:${pt} rtx/`, "m").test(sdp);
}
