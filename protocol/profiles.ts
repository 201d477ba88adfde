// Rendition profiles: go-livepeer's named presets, the `transcodingOptions`
// parser (comma-separated preset names or a JSON ladder), and which SegData
// field (fullProfiles 33 / fullProfiles2 34 / fullProfiles3 35) carries them.
import {
  ChromaSubsampling,
  VideoCodec,
  VideoFormat,
  VideoProfileLevel,
  type SegData,
  type VideoProfile,
} from "./messages.ts";

/** A fully specified rendition (a VideoProfile with every field set). */
export type Rendition = Required<VideoProfile>;

function preset(name: string, width: number, height: number, kbps: number, fps: number): Rendition {
  return {
    name,
    width,
    height,
    bitrate: kbps * 1000,
    fps,
    fpsDen: 0,
    format: VideoFormat.MPEGTS,
    profile: VideoProfileLevel.ENCODER_DEFAULT,
    gop: 0,
    encoder: VideoCodec.H264,
    colorDepth: 0,
    chromaFormat: ChromaSubsampling.CHROMA_420,
    quality: 0,
  };
}

/** go-livepeer (lpms) presets, by name. */
export const PRESETS: Readonly<Record<string, Rendition>> = Object.freeze({
  P720p60fps16x9: preset("P720p60fps16x9", 1280, 720, 6000, 60),
  P720p30fps16x9: preset("P720p30fps16x9", 1280, 720, 4000, 30),
  P720p25fps16x9: preset("P720p25fps16x9", 1280, 720, 3500, 25),
  P720p30fps4x3: preset("P720p30fps4x3", 960, 720, 3500, 30),
  P576p30fps16x9: preset("P576p30fps16x9", 1024, 576, 1500, 30),
  P576p25fps16x9: preset("P576p25fps16x9", 1024, 576, 1500, 25),
  P360p30fps16x9: preset("P360p30fps16x9", 640, 360, 1200, 30),
  P360p25fps16x9: preset("P360p25fps16x9", 640, 360, 1000, 25),
  P360p30fps4x3: preset("P360p30fps4x3", 480, 360, 1000, 30),
  P240p30fps16x9: preset("P240p30fps16x9", 426, 240, 600, 30),
  P240p25fps16x9: preset("P240p25fps16x9", 426, 240, 600, 25),
  P240p30fps4x3: preset("P240p30fps4x3", 320, 240, 600, 30),
  P144p30fps16x9: preset("P144p30fps16x9", 256, 144, 400, 30),
  P144p25fps16x9: preset("P144p25fps16x9", 256, 144, 400, 25),
});

/** go-livepeer's default `transcodingOptions`. */
export const DEFAULT_TRANSCODING_OPTIONS = "P240p30fps16x9,P360p30fps16x9";

export class ProfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProfileError";
  }
}

const PROFILE_NAMES: Record<string, VideoProfileLevel> = {
  "": VideoProfileLevel.ENCODER_DEFAULT,
  none: VideoProfileLevel.ENCODER_DEFAULT,
  encoderdefault: VideoProfileLevel.ENCODER_DEFAULT,
  h264baseline: VideoProfileLevel.H264_BASELINE,
  h264main: VideoProfileLevel.H264_MAIN,
  h264high: VideoProfileLevel.H264_HIGH,
  h264constrainedhigh: VideoProfileLevel.H264_CONSTRAINED_HIGH,
};
const ENCODER_NAMES: Record<string, VideoCodec> = {
  "": VideoCodec.H264,
  h264: VideoCodec.H264,
  h265: VideoCodec.H265,
  hevc: VideoCodec.H265,
  vp8: VideoCodec.VP8,
  vp9: VideoCodec.VP9,
};
const FORMAT_NAMES: Record<string, VideoFormat> = {
  "": VideoFormat.MPEGTS,
  mpegts: VideoFormat.MPEGTS,
  mp4: VideoFormat.MP4,
};
const CHROMA_NAMES: Record<string, ChromaSubsampling> = {
  "": ChromaSubsampling.CHROMA_420,
  chroma420: ChromaSubsampling.CHROMA_420,
  chroma422: ChromaSubsampling.CHROMA_422,
  chroma444: ChromaSubsampling.CHROMA_444,
};
/** GOP value meaning "every frame is a keyframe" (lpms GOPIntraOnly). */
export const GOP_INTRA_ONLY = -1;

function enumValue<T extends number>(v: unknown, names: Record<string, T>, max: number, field: string, i: number): T {
  if (v === undefined || v === null) return names[""]!;
  if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max) return v as T;
  if (typeof v === "string") {
    const key = v.toLowerCase().replace(/[^a-z0-9]/g, "");
    if (Object.hasOwn(names, key)) return names[key]!;
  }
  throw new ProfileError(`ladder[${i}].${field}: unknown value ${JSON.stringify(v)}`);
}

function intField(o: Record<string, unknown>, key: string, i: number, opts: { min: number; required?: boolean }): number {
  const v = o[key];
  if (v === undefined || v === null) {
    if (opts.required) throw new ProfileError(`ladder[${i}].${key} is required`);
    return 0;
  }
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < opts.min) {
    throw new ProfileError(`ladder[${i}].${key}: expected an integer >= ${opts.min}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** GOP: a number of seconds ("2", 2, "0.5") -> milliseconds, or "intra" -> GOP_INTRA_ONLY. */
function gopField(v: unknown, i: number): number {
  if (v === undefined || v === null || v === "" || v === 0) return 0;
  if (typeof v === "string" && v.toLowerCase() === "intra") return GOP_INTRA_ONLY;
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0) {
    throw new ProfileError(`ladder[${i}].gop: expected seconds or "intra", got ${JSON.stringify(v)}`);
  }
  return Math.round(n * 1000);
}

/** One JSON ladder entry -> Rendition (go-livepeer's JSON transcodingOptions format). */
export function renditionFromJson(entry: unknown, i = 0): Rendition {
  if (!entry || typeof entry !== "object" || Array.isArray(entry)) {
    throw new ProfileError(`ladder[${i}]: expected an object`);
  }
  const o = entry as Record<string, unknown>;
  const width = intField(o, "width", i, { min: 1, required: true });
  const height = intField(o, "height", i, { min: 1, required: true });
  if (width > 7680 || height > 7680) throw new ProfileError(`ladder[${i}]: resolution ${width}x${height} too large`);
  const name = o.name === undefined ? `${width}x${height}` : o.name;
  if (typeof name !== "string" || name.length > 64) throw new ProfileError(`ladder[${i}].name: expected a short string`);
  return {
    name,
    width,
    height,
    bitrate: intField(o, "bitrate", i, { min: 1, required: true }),
    fps: intField(o, "fps", i, { min: 0 }),
    fpsDen: intField(o, "fpsDen", i, { min: 0 }),
    format: enumValue(o.format, FORMAT_NAMES, 1, "format", i),
    profile: enumValue(o.profile, PROFILE_NAMES, 4, "profile", i),
    gop: gopField(o.gop, i),
    encoder: enumValue(o.encoder, ENCODER_NAMES, 3, "encoder", i),
    colorDepth: intField(o, "colorDepth", i, { min: 0 }),
    chromaFormat: enumValue(o.chromaFormat, CHROMA_NAMES, 2, "chromaFormat", i),
    quality: intField(o, "quality", i, { min: 0 }),
  };
}

/**
 * Parse go-livepeer's `transcodingOptions`: comma-separated preset names
 * ("P240p30fps16x9,P360p30fps16x9") or a JSON ladder array. Throws ProfileError.
 */
export function parseTranscodingOptions(spec: string): Rendition[] {
  const s = spec.trim();
  if (s === "") return [];
  if (s.startsWith("[") || s.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch (err) {
      throw new ProfileError(`transcodingOptions: invalid JSON: ${(err as Error).message}`);
    }
    // go-livepeer also accepts {"profiles": [...]}
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
      parsed = (parsed as Record<string, unknown>).profiles;
    }
    if (!Array.isArray(parsed)) throw new ProfileError("transcodingOptions: expected a JSON array of profiles");
    return parsed.map((e, i) => renditionFromJson(e, i));
  }
  return s
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "")
    .map((n) => {
      const p = Object.hasOwn(PRESETS, n) ? PRESETS[n] : undefined;
      if (!p) throw new ProfileError(`transcodingOptions: unknown preset "${n}" (known: ${Object.keys(PRESETS).join(", ")})`);
      return { ...p };
    });
}

/** The SegData profiles field number go-livepeer would fill for these renditions: 33, 34 or 35. */
export function profilesFieldNumber(profiles: readonly VideoProfile[]): 33 | 34 | 35 {
  const simple = profiles.every(
    (p) => !p.fpsDen && !p.profile /* ENCODER_DEFAULT */ && !p.gop /* default GOP */,
  );
  if (!simple) return 35;
  const allTs = profiles.every((p) => (p.format ?? VideoFormat.MPEGTS) === VideoFormat.MPEGTS);
  return allTs ? 33 : 34;
}

/** The SegData fragment carrying the profiles, in the field go-livepeer uses. */
export function profilesForSegData(
  profiles: readonly VideoProfile[],
): Pick<SegData, "fullProfiles" | "fullProfiles2" | "fullProfiles3"> {
  const list = profiles.map((p) => ({ ...p }));
  switch (profilesFieldNumber(profiles)) {
    case 33:
      return { fullProfiles: list };
    case 34:
      return { fullProfiles2: list };
    default:
      return { fullProfiles3: list };
  }
}

/** Orchestrator side: profiles read from fullProfiles3, then fullProfiles2, then fullProfiles. */
export function profilesFromSegData(seg: SegData): VideoProfile[] {
  if (seg.fullProfiles3 && seg.fullProfiles3.length > 0) return seg.fullProfiles3;
  if (seg.fullProfiles2 && seg.fullProfiles2.length > 0) return seg.fullProfiles2;
  return seg.fullProfiles ?? [];
}
