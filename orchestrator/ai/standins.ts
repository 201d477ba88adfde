// Honest CPU stand-ins for the nine batch AI pipelines (no model runs here):
// each produces a real, correctly-shaped result with ffmpeg or plain code.
//   text-to-image      prompt + seed drawn on a seed-coloured canvas (lavfi color + drawtext)
//   image-to-image     a real filter: hue rotation/saturation scaled by strength, per-image seed offset
//   upscale            real 4x lanczos scaling (capped at 4096 px)
//   image-to-video     a real 25-frame H.264 mp4 panning across the image
//   audio-to-text      the audio's measured facts (duration, codec, rate, channels) as text, with chunks
//   llm                echoes the last user message token by token (stream or not)
//   segment-anything-2 luminance-threshold masks of the real image, in SAM2's array shapes
//   image-to-text      size and average colour of the real image
//   text-to-speech     flite speech synthesis (sine tones when flite is unavailable), WAV
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runFfmpeg } from "../../core/ffmpeg.ts";
import { probeAudio, probeImage } from "../../protocol/ai/media-facts.ts";
import type { FieldValue, LlmMessage } from "../../protocol/ai/spec.ts";

export type Values = Record<string, FieldValue | undefined>;

export interface MediaOut {
  data: Buffer;
  contentType: string;
  seed: number;
  nsfw: boolean;
}

async function tempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "wharf-orch-ai-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const FF = ["-hide_banner", "-loglevel", "error", "-nostdin"];
const TIMEOUT = 60_000;

export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}

function seedColor(seed: number): string {
  // A stable, mid-dark colour per seed.
  const x = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  const c = [(x >>> 16) & 0x7f, (x >>> 8) & 0x7f, x & 0x7f].map((v) => (v + 24).toString(16).padStart(2, "0"));
  return `0x${c.join("")}`;
}

let drawtextWorks: boolean | undefined;

async function renderCard(text: string, seed: number, width: number, height: number): Promise<Buffer> {
  return tempDir(async (dir) => {
    const tf = join(dir, "text.txt");
    await writeFile(tf, text);
    const base = ["-f", "lavfi", "-i", `color=c=${seedColor(seed)}:s=${width}x${height}:d=1`];
    const out = ["-frames:v", "1", "-c:v", "png", "-f", "image2pipe", "pipe:1"];
    const size = Math.max(10, Math.min(48, Math.floor(Math.min(width, height) / 12)));
    if (drawtextWorks !== false) {
      try {
        const png = await runFfmpeg(
          [...FF, ...base, "-vf", `drawtext=textfile=${tf}:fontcolor=white:fontsize=${size}:x=(w-tw)/2:y=(h-th)/2:line_spacing=6`, ...out],
          { timeoutMs: TIMEOUT, label: "text-to-image" },
        );
        drawtextWorks = true;
        return png;
      } catch (err) {
        if (drawtextWorks === true) throw err;
        drawtextWorks = false; // no fonts / no drawtext: plain seed-coloured canvas
      }
    }
    return runFfmpeg([...FF, ...base, ...out], { timeoutMs: TIMEOUT, label: "text-to-image" });
  });
}

/** A fixed 8x8 PNG for the zero-cost stand-in (benchmarks of gateway overhead). */
export const ZERO_COST_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAACXBIWXMAAAABAAAAAQBPJcTWAAAAEUlEQVR4nGMwTJmOFTEMLQkANPtLAWH+bY8AAAAASUVORK5CYII=",
  "base64",
);

export async function textToImage(v: Values, zeroCost = false): Promise<MediaOut[]> {
  const prompts = String(v.prompt).split("|").map((p) => p.trim()).filter(Boolean);
  const n = Number(v.num_images_per_prompt ?? 1);
  const seed0 = typeof v.seed === "number" ? v.seed : randomSeed();
  const w = Number(v.width);
  const h = Number(v.height);
  const jobs: Array<{ prompt: string; seed: number }> = [];
  let i = 0;
  for (const prompt of prompts) for (let k = 0; k < n; k++) jobs.push({ prompt, seed: seed0 + i++ });
  if (zeroCost) return jobs.map((j) => ({ data: ZERO_COST_PNG, contentType: "image/png", seed: j.seed, nsfw: false }));
  const out: MediaOut[] = [];
  for (const j of jobs) {
    const text = `${j.prompt.slice(0, 200)}\nseed ${j.seed}`;
    out.push({ data: await renderCard(text, j.seed, w, h), contentType: "image/png", seed: j.seed, nsfw: false });
  }
  return out;
}

async function filterImage(image: Buffer, vf: string, label: string): Promise<Buffer> {
  return tempDir(async (dir) => {
    const inp = join(dir, "in");
    await writeFile(inp, image);
    return runFfmpeg([...FF, "-i", inp, "-vf", vf, "-frames:v", "1", "-c:v", "png", "-f", "image2pipe", "pipe:1"], { timeoutMs: TIMEOUT, label });
  });
}

export async function imageToImage(v: Values, image: Buffer): Promise<MediaOut[]> {
  await probeImage(image);
  const n = Number(v.num_images_per_prompt ?? 1);
  const seed0 = typeof v.seed === "number" ? v.seed : randomSeed();
  const strength = Number(v.strength ?? 0.8);
  const out: MediaOut[] = [];
  for (let i = 0; i < n; i++) {
    const seed = seed0 + i;
    const hue = Math.round((strength * 180 + (seed % 360)) % 360);
    const sat = (1 + strength).toFixed(2);
    out.push({ data: await filterImage(image, `hue=h=${hue}:s=${sat},format=rgb24`, "image-to-image"), contentType: "image/png", seed, nsfw: false });
  }
  return out;
}

export async function upscale(v: Values, image: Buffer): Promise<MediaOut[]> {
  const info = await probeImage(image);
  const f = Math.max(1, Math.min(4, Math.floor(4096 / Math.max(info.width, info.height))));
  const seed = typeof v.seed === "number" ? v.seed : randomSeed();
  const data = await filterImage(image, `scale=${info.width * f}:${info.height * f}:flags=lanczos,format=rgb24`, "upscale");
  return [{ data, contentType: "image/png", seed, nsfw: false }];
}

export async function imageToVideo(v: Values, image: Buffer): Promise<MediaOut[]> {
  await probeImage(image);
  const w = Number(v.width);
  const h = Number(v.height);
  const fps = Number(v.fps ?? 6);
  const seed = typeof v.seed === "number" ? v.seed : randomSeed();
  const data = await tempDir(async (dir) => {
    const inp = join(dir, "in");
    const outp = join(dir, "out.mp4");
    await writeFile(inp, image);
    const sw = Math.ceil((w * 1.1) / 2) * 2;
    const sh = Math.ceil((h * 1.1) / 2) * 2;
    const vf = `scale=${sw}:${sh},crop=${w}:${h}:x='(iw-ow)*n/24':y='(ih-oh)*n/24',format=yuv420p`;
    await runFfmpeg(
      [...FF, "-loop", "1", "-framerate", String(fps), "-i", inp, "-vf", vf, "-frames:v", "25", "-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart", "-y", outp],
      { timeoutMs: TIMEOUT, label: "image-to-video" },
    );
    return readFile(outp);
  });
  return [{ data, contentType: "video/mp4", seed, nsfw: false }];
}

export async function audioToText(v: Values, audio: Buffer): Promise<{ text: string; chunks: Array<{ timestamp: [number, number]; text: string }> }> {
  const a = await probeAudio(audio);
  const dur = a.durationMs / 1000;
  const sentences = [
    `Audio of ${dur.toFixed(2)} seconds.`,
    `Format ${a.format}, codec ${a.codec}.`,
    `${a.sampleRate} Hz, ${a.channels} channel${a.channels === 1 ? "" : "s"}.`,
  ];
  const text = sentences.join(" ");
  const mode = String(v.return_timestamps ?? "true");
  const round = (x: number) => Math.round(x * 100) / 100;
  if (mode === "false") return { text, chunks: [{ timestamp: [0, round(dur)], text }] };
  const pieces = mode === "word" ? text.split(/\s+/) : sentences;
  const step = dur / pieces.length;
  return { text, chunks: pieces.map((p, i) => ({ timestamp: [round(i * step), round((i + 1) * step)], text: p })) };
}

/** Tokens of the echo reply: "You said: <last user message>", cut at max_tokens. */
export function llmTokens(messages: LlmMessage[], maxTokens: number): { tokens: string[]; promptTokens: number; finishReason: string } {
  const lastUser = [...messages].reverse().find((m) => m.role === "user") ?? messages[messages.length - 1]!;
  const words = `You said: ${lastUser.content}`.split(/(\s+)/).filter((s) => s.length > 0);
  // One token per word, keeping the whitespace with the word that follows.
  const tokens: string[] = [];
  let pending = "";
  for (const w of words) {
    if (/^\s+$/.test(w)) pending += w;
    else {
      tokens.push(pending + w);
      pending = "";
    }
  }
  const promptTokens = messages.reduce((n, m) => n + m.content.split(/\s+/).filter(Boolean).length, 0);
  const cut = tokens.slice(0, maxTokens);
  return { tokens: cut, promptTokens, finishReason: cut.length < tokens.length ? "length" : "stop" };
}

async function grayPixels(image: Buffer, w: number, h: number): Promise<Buffer> {
  return tempDir(async (dir) => {
    const inp = join(dir, "in");
    await writeFile(inp, image);
    return runFfmpeg([...FF, "-i", inp, "-vf", `scale=${w}:${h},format=gray`, "-frames:v", "1", "-f", "rawvideo", "pipe:1"], { timeoutMs: TIMEOUT, label: "segment-anything-2" });
  });
}

const fmt = (x: number) => (Number.isInteger(x) ? x.toFixed(1) : x.toFixed(4));

export async function segmentAnything2(v: Values, image: Buffer): Promise<{ masks: string; scores: string; logits: string }> {
  const info = await probeImage(image);
  const w = info.width;
  const h = info.height;
  if (w * h > 4096 * 4096) throw new Error("image too large for the stand-in");
  const gray = await grayPixels(image, w, h);
  const low = await grayPixels(image, 256, 256);
  const multi = v.multimask_output !== false;
  // Thresholds: around the luminance at the first point (if any), else fixed levels.
  let centre = 128;
  const pc = v.point_coords as number[][] | null | undefined;
  if (pc && pc.length > 0) {
    let [x, y] = pc[0]!;
    if (v.normalize_coords !== false && x! <= 1 && y! <= 1) {
      x = x! * w;
      y = y! * h;
    }
    const xi = Math.max(0, Math.min(w - 1, Math.round(x!)));
    const yi = Math.max(0, Math.min(h - 1, Math.round(y!)));
    centre = gray[yi * w + xi] ?? 128;
  }
  const bands = multi ? [16, 48, 96] : [48];
  const maskRows: string[] = [];
  const logitRows: string[] = [];
  const scores: number[] = [];
  for (const band of bands) {
    const rows: string[] = [];
    let inside = 0;
    for (let y = 0; y < h; y++) {
      const row: string[] = new Array(w);
      for (let x = 0; x < w; x++) {
        const on = Math.abs(gray[y * w + x]! - centre) <= band;
        if (on) inside++;
        row[x] = on ? "1.0" : "0.0";
      }
      rows.push(`[${row.join(", ")}]`);
    }
    maskRows.push(`[${rows.join(", ")}]`);
    scores.push(Math.round((0.5 + 0.5 * (inside / (w * h))) * 1e4) / 1e4);
    if (v.return_logits !== false) {
      const lrows: string[] = [];
      for (let y = 0; y < 256; y++) {
        const row: string[] = new Array(256);
        for (let x = 0; x < 256; x++) row[x] = fmt((band - Math.abs(low[y * 256 + x]! - centre)) / 16);
        lrows.push(`[${row.join(", ")}]`);
      }
      logitRows.push(`[${lrows.join(", ")}]`);
    }
  }
  return { masks: `[${maskRows.join(", ")}]`, scores: `[${scores.map(fmt).join(", ")}]`, logits: `[${logitRows.join(", ")}]` };
}

const COLOR_NAMES: Array<[string, number, number, number]> = [
  ["black", 0, 0, 0], ["white", 255, 255, 255], ["gray", 128, 128, 128], ["red", 200, 30, 30], ["green", 30, 160, 50],
  ["blue", 30, 60, 200], ["yellow", 230, 220, 40], ["orange", 240, 140, 20], ["purple", 130, 40, 160], ["cyan", 40, 200, 210],
  ["pink", 240, 150, 180], ["brown", 120, 80, 40],
];

export async function imageToText(v: Values, image: Buffer): Promise<{ text: string }> {
  const info = await probeImage(image);
  const rgb = await tempDir(async (dir) => {
    const inp = join(dir, "in");
    await writeFile(inp, image);
    return runFfmpeg([...FF, "-i", inp, "-vf", "scale=1:1:flags=area,format=rgb24", "-frames:v", "1", "-f", "rawvideo", "pipe:1"], { timeoutMs: TIMEOUT, label: "image-to-text" });
  });
  const [r, g, b] = [rgb[0] ?? 0, rgb[1] ?? 0, rgb[2] ?? 0];
  let best = COLOR_NAMES[0]!;
  let bestD = Infinity;
  for (const c of COLOR_NAMES) {
    const d = (c[1] - r) ** 2 + (c[2] - g) ** 2 + (c[3] - b) ** 2;
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const prompt = String(v.prompt ?? "").trim();
  const text = `${prompt ? `${prompt} ` : ""}a ${info.width}x${info.height} ${info.type.replace("image/", "")} image, mostly ${best[0]} (average colour rgb(${r}, ${g}, ${b}))`;
  return { text };
}

let fliteWorks: boolean | undefined;

export async function textToSpeech(v: Values): Promise<MediaOut> {
  const text = String(v.text ?? "").slice(0, 5000);
  const wav = await tempDir(async (dir) => {
    const tf = join(dir, "text.txt");
    await writeFile(tf, text);
    const out = ["-ar", "22050", "-ac", "1", "-c:a", "pcm_s16le", "-f", "wav", "pipe:1"];
    if (fliteWorks !== false) {
      try {
        const r = await runFfmpeg([...FF, "-f", "lavfi", "-i", `flite=textfile=${tf}:voice=slt`, ...out], { timeoutMs: TIMEOUT, label: "text-to-speech" });
        fliteWorks = true;
        return r;
      } catch (err) {
        if (fliteWorks === true) throw err;
        fliteWorks = false;
      }
    }
    // One 80 ms tone per character, pitch from the character code.
    const dur = Math.max(0.2, Math.min(60, text.length * 0.08));
    return runFfmpeg([...FF, "-f", "lavfi", "-i", `sine=frequency=440:duration=${dur.toFixed(2)}`, ...out], { timeoutMs: TIMEOUT, label: "text-to-speech" });
  });
  return { data: wav, contentType: "audio/wav", seed: 0, nsfw: false };
}
