// Facts about uploaded media needed for validation and billing: image size and
// type (PNG, JPEG, GIF, WebP, BMP parsed in JS, ffprobe as a fallback) and
// audio duration (RIFF/WAV parsed in JS, so raw PCM WAV always works; ffprobe
// for everything else). Also result content-type sniffing.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ffprobe } from "../../core/ffmpeg.ts";

export interface ImageInfo {
  width: number;
  height: number;
  /** MIME type. */
  type: string;
}

export class UnsupportedMediaError extends Error {
  readonly status = 415;
}

/** Image dimensions from the header bytes; undefined when not a known format. */
export function imageInfo(b: Buffer): ImageInfo | undefined {
  if (b.length >= 24 && b.readUInt32BE(0) === 0x89504e47 && b.toString("latin1", 12, 16) === "IHDR") {
    return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), type: "image/png" };
  }
  if (b.length >= 10 && (b.toString("latin1", 0, 6) === "GIF87a" || b.toString("latin1", 0, 6) === "GIF89a")) {
    return { width: b.readUInt16LE(6), height: b.readUInt16LE(8), type: "image/gif" };
  }
  if (b.length >= 26 && b.toString("latin1", 0, 2) === "BM") {
    return { width: Math.abs(b.readInt32LE(18)), height: Math.abs(b.readInt32LE(22)), type: "image/bmp" };
  }
  if (b.length >= 30 && b.toString("latin1", 0, 4) === "RIFF" && b.toString("latin1", 8, 12) === "WEBP") {
    const chunk = b.toString("latin1", 12, 16);
    if (chunk === "VP8X") return { width: 1 + b.readUIntLE(24, 3), height: 1 + b.readUIntLE(27, 3), type: "image/webp" };
    if (chunk === "VP8 ") return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff, type: "image/webp" };
    if (chunk === "VP8L") {
      const bits = b.readUInt32LE(21);
      return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1, type: "image/webp" };
    }
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) {
        i++;
        continue;
      }
      const marker = b[i + 1]!;
      if (marker === 0xff) {
        i++;
        continue;
      }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        i += 2;
        continue;
      }
      const len = b.readUInt16BE(i + 2);
      // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC)
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7), type: "image/jpeg" };
      }
      i += 2 + len;
    }
  }
  return undefined;
}

async function withTempFile<T>(data: Buffer, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "wharf-ai-"));
  try {
    const p = join(dir, "input");
    await writeFile(p, data);
    return await fn(p);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Image info, with ffprobe for formats the JS parser does not know (e.g. TIFF). Throws UnsupportedMediaError. */
export async function probeImage(b: Buffer): Promise<ImageInfo> {
  const quick = imageInfo(b);
  if (quick && quick.width > 0 && quick.height > 0) return quick;
  if (b.length === 0) throw new UnsupportedMediaError("image: the uploaded file is empty");
  try {
    const r = await withTempFile(b, (p) => ffprobe(p));
    const v = r.streams.find((s) => s.codec_type === "video" && (s.width ?? 0) > 0);
    if (v) return { width: v.width!, height: v.height!, type: `image/${v.codec_name}` };
  } catch {
    /* not media */
  }
  throw new UnsupportedMediaError("image: unsupported or corrupt image format (send PNG, JPEG, WebP, GIF or BMP)");
}

export interface AudioInfo {
  durationMs: number;
  format: string;
  codec: string;
  sampleRate: number;
  channels: number;
}

/** RIFF/WAVE header parse (PCM and other WAV codecs); undefined when not WAV. */
export function wavInfo(b: Buffer): AudioInfo | undefined {
  if (b.length < 12 || b.toString("latin1", 0, 4) !== "RIFF" || b.toString("latin1", 8, 12) !== "WAVE") return undefined;
  let i = 12;
  let fmt: { codec: number; channels: number; sampleRate: number; byteRate: number; bits: number } | undefined;
  while (i + 8 <= b.length) {
    const id = b.toString("latin1", i, i + 4);
    let size = b.readUInt32LE(i + 4);
    if (id === "fmt " && i + 24 <= b.length) {
      fmt = { codec: b.readUInt16LE(i + 8), channels: b.readUInt16LE(i + 10), sampleRate: b.readUInt32LE(i + 12), byteRate: b.readUInt32LE(i + 16), bits: b.readUInt16LE(i + 22) };
    } else if (id === "data" && fmt) {
      // Streamed WAVs carry 0 or 0xFFFFFFFF as the data size: use what is there.
      if (size === 0 || size === 0xffffffff || i + 8 + size > b.length) size = b.length - i - 8;
      if (fmt.byteRate <= 0) return undefined;
      const codec = fmt.codec === 1 ? `pcm_s${fmt.bits}le` : fmt.codec === 3 ? `pcm_f${fmt.bits}le` : `wav_codec_${fmt.codec}`;
      return { durationMs: Math.round((size / fmt.byteRate) * 1000), format: "wav", codec, sampleRate: fmt.sampleRate, channels: fmt.channels };
    }
    i += 8 + size + (size & 1);
  }
  return undefined;
}

/** Audio facts; throws UnsupportedMediaError when no audio stream can be read. */
export async function probeAudio(b: Buffer): Promise<AudioInfo> {
  const wav = wavInfo(b);
  if (wav) return wav;
  if (b.length === 0) throw new UnsupportedMediaError("audio: the uploaded file is empty");
  try {
    const r = await withTempFile(b, (p) => ffprobe(p));
    const a = r.streams.find((s) => s.codec_type === "audio");
    const dur = Number(r.format.duration);
    if (a && Number.isFinite(dur) && dur >= 0) {
      return { durationMs: Math.round(dur * 1000), format: r.format.format_name, codec: a.codec_name, sampleRate: Number(a.sample_rate ?? 0), channels: a.channels ?? 0 };
    }
  } catch {
    /* not media */
  }
  throw new UnsupportedMediaError("audio: unsupported or corrupt audio format (send WAV, MP3, FLAC, OGG, M4A/MP4 or WebM)");
}

/** Content type from magic bytes, for results served without a usable type. */
export function sniffContentType(b: Buffer, fallback = "application/octet-stream"): string {
  const img = imageInfo(b);
  if (img) return img.type;
  if (b.length >= 12 && b.toString("latin1", 0, 4) === "RIFF" && b.toString("latin1", 8, 12) === "WAVE") return "audio/wav";
  if (b.length >= 12 && b.toString("latin1", 4, 8) === "ftyp") return "video/mp4";
  if (b.length >= 3 && b.toString("latin1", 0, 3) === "ID3") return "audio/mpeg";
  if (b.length >= 4 && b.toString("latin1", 0, 4) === "OggS") return "audio/ogg";
  if (b.length >= 4 && b.readUInt32BE(0) === 0x1a45dfa3) return "video/webm";
  return fallback;
}
