// Test helper: turns any file ffprobe reads (e.g. HEVC in MP4) into enhanced-RTMP media messages, from its packets and extradata.
import type { MediaMessage } from "../media-message.ts";
import { probe, type ProbeJson } from "./media-tools.ts";

/** Bytes of an ffprobe -show_data hex dump ("00000000: 0101 6000 ...  ascii"). */
export function hexDump(dump: string | undefined): Buffer {
  if (!dump) return Buffer.alloc(0);
  const hex = dump
    .split("\n")
    .filter((l) => /^[0-9a-f]{8}: /.test(l))
    .map((l) => l.slice(10, 50).replace(/ /g, ""))
    .join("");
  return Buffer.from(hex, "hex");
}

function tbMs(timeBase: string): number {
  const [n, d] = timeBase.split("/").map(Number);
  return (1000 * n!) / d!;
}

/** A frame as the messages carry it, in milliseconds. */
export interface ExpectedFrame {
  kind: "video" | "audio";
  dts: number;
  pts: number;
  key: boolean;
}

export interface ProbedMessages {
  messages: MediaMessage[];
  /** The frames in message order. */
  frames: ExpectedFrame[];
  probe: ProbeJson;
}

/**
 * Video (H.264 or HEVC) as enhanced RTMP (ExVideoTagHeader with FourCC avc1/hvc1, CodedFrames with a
 * composition time), AAC audio as legacy FLV tags; interleaved by DTS, DTS shifted to start at >= 0.
 */
export async function messagesFromFile(file: Buffer, format: string): Promise<ProbedMessages> {
  const p = await probe(file, ["-show_streams", "-show_packets", "-show_data"], format);
  const messages: Array<MediaMessage & { order: number; frame?: ExpectedFrame }> = [];
  let order = 0;
  const video = p.streams.find((s) => s.codec_type === "video");
  const audio = p.streams.find((s) => s.codec_type === "audio");
  const fourcc = video?.codec_name === "hevc" ? "hvc1" : "avc1";
  let minDts = Infinity;
  for (const pk of p.packets ?? []) {
    const s = p.streams[pk.stream_index]!;
    minDts = Math.min(minDts, (pk.dts ?? pk.pts ?? 0) * tbMs(s.time_base));
  }
  const shift = minDts < 0 ? -minDts : 0;
  if (video) {
    messages.push({ kind: "video", timestampMs: 0, order: order++, data: Buffer.concat([Buffer.from([0x90]), Buffer.from(fourcc), hexDump(video.extradata)]) });
  }
  if (audio) {
    messages.push({ kind: "audio", timestampMs: 0, order: order++, data: Buffer.concat([Buffer.from([0xaf, 0x00]), hexDump(audio.extradata)]) });
  }
  for (const pk of p.packets ?? []) {
    const s = p.streams[pk.stream_index]!;
    const ms = tbMs(s.time_base);
    const dts = Math.round((pk.dts ?? pk.pts!) * ms + shift);
    const pts = Math.round((pk.pts ?? pk.dts!) * ms + shift);
    const body = hexDump(pk.data);
    if (s === video) {
      const key = pk.flags.startsWith("K");
      const cts = pts - dts;
      const head = Buffer.from([0x80 | ((key ? 1 : 2) << 4) | 1, 0, 0, 0, 0, (cts >> 16) & 0xff, (cts >> 8) & 0xff, cts & 0xff]);
      head.write(fourcc, 1, "latin1");
      messages.push({ kind: "video", timestampMs: dts, order: order++, data: Buffer.concat([head, body]), frame: { kind: "video", dts, pts, key } });
    } else if (s === audio) {
      messages.push({ kind: "audio", timestampMs: dts, order: order++, data: Buffer.concat([Buffer.from([0xaf, 0x01]), body]), frame: { kind: "audio", dts, pts, key: true } });
    }
  }
  messages.sort((a, b) => a.timestampMs - b.timestampMs || a.order - b.order);
  return {
    messages: messages.map(({ kind, timestampMs, data }) => ({ kind, timestampMs, data })),
    frames: messages.flatMap((m) => (m.frame ? [m.frame] : [])),
    probe: p,
  };
}
