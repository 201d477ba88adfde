// live-video-to-video "models" of the development orchestrator: real ffmpeg video effects.
// The model id picks the default effect; control messages ({"effect": ...} or a {"prompt": ...}
// mapped by keywords) switch it live.

/** Effect name -> ffmpeg video filter (undefined = passthrough: video copied untouched). */
export const EFFECTS: Readonly<Record<string, string | undefined>> = {
  noop: undefined,
  grayscale: "hue=s=0",
  invert: "negate",
  edges: "edgedetect=low=0.1:high=0.3",
  blur: "boxblur=6:2",
  sepia: "colorchannelmixer=.393:.769:.189:0:.349:.686:.168:0:.272:.534:.131",
  mirror: "hflip",
};

export type Effect = keyof typeof EFFECTS;

/** The models the development orchestrator advertises for capability 35 (model id = its default effect). */
export const LIVE_MODELS: readonly string[] = Object.keys(EFFECTS);

export function isEffect(name: unknown): name is Effect {
  return typeof name === "string" && Object.hasOwn(EFFECTS, name);
}

const PROMPT_KEYWORDS: Array<[RegExp, Effect]> = [
  [/\b(gr[ae]y(scale)?|black and white|b&w|monochrome|noir)\b/i, "grayscale"],
  [/\b(invert(ed)?|negative|inverse)\b/i, "invert"],
  [/\b(edges?|sketch|outline|lines?|drawing|pencil)\b/i, "edges"],
  [/\b(blur(ry)?|dream(y)?|soft|fog(gy)?|haze)\b/i, "blur"],
  [/\b(sepia|vintage|old|retro)\b/i, "sepia"],
  [/\b(mirror(ed)?|flip(ped)?)\b/i, "mirror"],
  [/\b(none|original|noop|passthrough|unchanged)\b/i, "noop"],
];

/**
 * The effect a params object asks for: `effect` (or `filter`) by name, else a `prompt` mapped by
 * keywords; undefined when the params say nothing about the effect (keep the current one).
 */
export function effectFromParams(params: Record<string, unknown> | undefined): Effect | undefined {
  if (!params) return undefined;
  for (const key of ["effect", "filter"]) {
    const v = params[key];
    if (isEffect(v)) return v;
  }
  const prompt = typeof params.prompt === "string" ? params.prompt : Array.isArray(params.prompt) ? params.prompt.join(" ") : undefined;
  if (prompt) for (const [re, effect] of PROMPT_KEYWORDS) if (re.test(prompt)) return effect;
  return undefined;
}

/** Control messages that are not params updates (go-livepeer's keepalive). */
export function isKeepalive(msg: unknown): boolean {
  return typeof msg === "object" && msg !== null && (msg as Record<string, unknown>).keep === "alive";
}
