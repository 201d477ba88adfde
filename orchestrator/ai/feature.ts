// The development orchestrator's batch AI feature: `POST /<pipeline>` for the
// nine pipelines, like a go-livepeer orchestrator with an ai-runner behind it.
// - Credentials: `Livepeer-Segment` must carry a known, unexpired auth token (403 otherwise).
// - Capacity per pipeline; over it: 503 "insufficient capacity" (plain text, as go-livepeer).
// - Advertises each pipeline's capability, models (warm, capacity, capacityInUse) and
//   prices (PriceInfo per model) through the orchestrator's feature contract.
// - Results: URLs on this orchestrator when the caller sent
//   `Authorization: Livepeer-AI-Worker-1.0` (as go-livepeer), data URIs otherwise.
// - Payment (--require-payment): taken once the request is valid, under the balance key
//   "<capability>_<model>"; after a successful answer the work is debited in go-livepeer's units
//   (orchestrator/payments/work-units.ts), llm by the tokens the answer produced.
// The pipelines are honest CPU stand-ins (orchestrator/ai/standins.ts).
import { setTimeout as sleep } from "node:timers/promises";
import { BlobStore } from "../blob-store.ts";
import { randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import multipart from "@fastify/multipart";
import { AI_WORKER_AUTHORIZATION, aiManifestId } from "../../protocol/segment-header.ts";
import { probeAudio, probeImage, UnsupportedMediaError } from "../../protocol/ai/media-facts.ts";
import {
  AI_PIPELINES, PIPELINE_SPECS, resolveModel,
  type AiPipeline, type FieldValue, type LlmMessage, type PipelineSpec,
} from "../../protocol/ai/spec.ts";
import { semanticError, validateFields } from "../../protocol/ai/validation.ts";
import type { FeatureCapability, FeatureContext, FeatureModel, OrchestratorFeature, Price } from "../feature.ts";
import { aiWorkUnits, type AiMediaFacts } from "../payments/work-units.ts";
import * as standins from "./standins.ts";

export interface AiFeatureOptions {
  /** Pipelines served (default: all nine). */
  pipelines?: readonly AiPipeline[];
  /** Models per pipeline (default: the pipeline's default model). */
  models?: Partial<Record<AiPipeline, readonly string[]>>;
  /** Models advertised as cold (warm=false). */
  coldModels?: readonly string[];
  /** Wei per unit (or {pricePerUnit, pixelsPerUnit}) per pipeline, applied to each model (default 0). */
  prices?: Partial<Record<AiPipeline, number | Price>>;
  /** Concurrent requests per pipeline (default 4). */
  capacity?: number | Partial<Record<AiPipeline, number>>;
  /** Extra latency per pipeline, ms (on top of the orchestrator's latencyMs knob). */
  latencyMs?: Partial<Record<AiPipeline, number>>;
  /** Delay before each streamed LLM token, ms (default 0). */
  llmTokenDelayMs?: number;
  /** text-to-image answers a fixed 8x8 PNG at once (gateway overhead benchmarks). */
  zeroCost?: boolean;
  /** "auto" (default): URLs for Livepeer-AI-Worker callers, data URIs otherwise. */
  resultsAs?: "auto" | "url" | "data";
  /** How long result URLs are served (default 10 min). */
  resultTtlMs?: number;
  /** Upload limit per file (default 50 MiB). */
  maxUploadBytes?: number;
}

export interface AiFeatureStats {
  requests: Record<string, number>;
  busy: number;
  failures: number;
  /** Requests whose gateway hung up before the answer (work stopped there). */
  abandoned: number;
  inFlight: Record<string, number>;
}

export interface AiFeatureChanges {
  capacity?: number | Partial<Record<AiPipeline, number>>;
  latencyMs?: Partial<Record<AiPipeline, number>>;
  llmTokenDelayMs?: number;
  zeroCost?: boolean;
  /** Fault: result URLs answer 500 (an orchestrator that lost its results after answering). */
  resultsUnavailable?: boolean;
}

export interface AiFeature extends OrchestratorFeature {
  stats(): AiFeatureStats;
  /** Change capacity / latency / token delay at runtime (tests, demos). */
  configure(changes: AiFeatureChanges): void;
}

/** Checks a JSON `ai` section of `POST /wharf/configure`: the changes, or an error message. */
export function parseAiChanges(section: unknown): AiFeatureChanges | string {
  if (!section || typeof section !== "object" || Array.isArray(section)) return "expected a JSON object";
  const nonNegative = (v: unknown, int: boolean): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0 && (!int || Number.isInteger(v));
  const perPipeline = (name: string, v: unknown, int: boolean): Partial<Record<AiPipeline, number>> | string => {
    if (!v || typeof v !== "object" || Array.isArray(v)) return `${name}: expected {"<pipeline>": number}`;
    const out: Partial<Record<AiPipeline, number>> = {};
    for (const [p, n] of Object.entries(v)) {
      if (!(AI_PIPELINES as readonly string[]).includes(p)) return `${name}: unknown pipeline "${p}"`;
      if (!nonNegative(n, int)) return `${name}.${p}: expected ${int ? "an integer" : "a number"} >= 0`;
      out[p as AiPipeline] = n;
    }
    return out;
  };
  const changes: AiFeatureChanges = {};
  for (const [key, v] of Object.entries(section)) {
    switch (key) {
      case "capacity": {
        if (nonNegative(v, true)) {
          changes.capacity = v;
          break;
        }
        if (typeof v !== "object") return "capacity: expected an integer >= 0 or {\"<pipeline>\": integer}";
        const c = perPipeline("capacity", v, true);
        if (typeof c === "string") return c;
        changes.capacity = c;
        break;
      }
      case "latencyMs": {
        const l = perPipeline("latencyMs", v, false);
        if (typeof l === "string") return l;
        changes.latencyMs = l;
        break;
      }
      case "llmTokenDelayMs":
        if (!nonNegative(v, false)) return "llmTokenDelayMs: expected a number >= 0";
        changes.llmTokenDelayMs = v;
        break;
      case "zeroCost":
      case "resultsUnavailable":
        if (typeof v !== "boolean") return `${key}: expected true or false`;
        changes[key] = v;
        break;
      default:
        return `unknown field "${key}" (known: capacity, latencyMs, llmTokenDelayMs, zeroCost, resultsUnavailable)`;
    }
  }
  return changes;
}


const RESULT_EXT: Record<string, string> = { "image/png": ".png", "video/mp4": ".mp4", "audio/wav": ".wav" };

function detail(msg: string) {
  return { detail: { msg } };
}

/** What the units of a paid request depend on in its upload (image size, audio duration). */
async function mediaFacts(spec: PipelineSpec, file: Buffer): Promise<AiMediaFacts> {
  if (spec.file === "image") {
    const i = await probeImage(file);
    return { imageWidth: i.width, imageHeight: i.height };
  }
  if (spec.file === "audio") return { audioDurationMs: (await probeAudio(file)).durationMs };
  return {};
}


export function createAiFeature(opts: AiFeatureOptions = {}): AiFeature {
  const pipelines = opts.pipelines ?? AI_PIPELINES;
  let capacityOpt = opts.capacity ?? 4;
  const latency: Partial<Record<AiPipeline, number>> = { ...(opts.latencyMs ?? {}) };
  let tokenDelayMs = opts.llmTokenDelayMs ?? 0;
  let zeroCost = opts.zeroCost ?? false;
  let resultsUnavailable = false;
  const inFlight: Record<string, number> = {};
  const requests: Record<string, number> = {};
  const counters = { busy: 0, failures: 0, abandoned: 0 };
  const results = new BlobStore(opts.resultTtlMs ?? 10 * 60 * 1000, 512 * 1024 * 1024, "/ai/results");
  const maxUpload = opts.maxUploadBytes ?? 50 * 1024 * 1024;
  const cold = new Set(opts.coldModels ?? []);

  const capacityOf = (p: AiPipeline): number => (typeof capacityOpt === "number" ? capacityOpt : capacityOpt[p] ?? 4);
  const modelsOf = (p: AiPipeline): readonly string[] => opts.models?.[p] ?? PIPELINE_SPECS[p].knownModels;
  const priceOf = (p: AiPipeline): Price => {
    const v = opts.prices?.[p] ?? 0;
    return typeof v === "number" ? { pricePerUnit: v, pixelsPerUnit: 1 } : v;
  };

  const capabilities = (): FeatureCapability[] =>
    pipelines.map((p) => {
      const spec = PIPELINE_SPECS[p];
      const cap = capacityOf(p);
      const models: Record<string, FeatureModel> = {};
      for (const m of modelsOf(p)) {
        models[m] = { warm: !cold.has(m), capacity: cap, capacityInUse: inFlight[p] ?? 0, runnerVersion: "wharf-dev-standin", price: priceOf(p) };
      }
      return { capability: spec.capability, capacity: cap, models };
    });

  async function register(app: FastifyInstance, ctx: FeatureContext): Promise<void> {
    app.get("/wharf/ai/status", async () => stats());
    app.get("/ai/results/:id/:name", async (req, reply) => {
      const { id, name } = req.params as { id: string; name: string };
      if (resultsUnavailable) return reply.code(500).send(detail("result storage unavailable (injected fault)"));
      const it = results.get(`/ai/results/${id}/${name}`);
      if (!it) return reply.code(404).send(detail("result expired or unknown"));
      return reply.type(it.contentType).header("cache-control", "no-store").send(it.data);
    });

    await app.register(async (sub) => {
      await sub.register(multipart, { limits: { fileSize: maxUpload, files: 4, fieldSize: 16 * 1024 * 1024, fields: 64 } });
      sub.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
        const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
        return reply.code(status).send(detail(status === 413 ? `upload too large (limit ${maxUpload} bytes)` : err.message));
      });
      for (const p of pipelines) {
        const spec = PIPELINE_SPECS[p];
        sub.post(`/${p}`, { bodyLimit: maxUpload + 1024 * 1024 }, (req, reply) => handle(spec, req, reply, ctx));
      }
    });
  }

  async function readBody(spec: PipelineSpec, req: FastifyRequest): Promise<{ raw: Record<string, unknown>; files: Map<string, Buffer>; mode: "json" | "form" } | string> {
    if (spec.body === "json") {
      const b = req.body;
      if (!b || typeof b !== "object" || Array.isArray(b)) return "body must be a JSON object";
      return { raw: b as Record<string, unknown>, files: new Map(), mode: "json" };
    }
    if (!req.isMultipart()) return "body must be multipart/form-data";
    const raw: Record<string, unknown> = {};
    const files = new Map<string, Buffer>();
    for await (const part of req.parts()) {
      if (part.type === "file") files.set(part.fieldname, await part.toBuffer());
      else raw[part.fieldname] = String(part.value);
    }
    return { raw, files, mode: "form" };
  }

  async function handle(spec: PipelineSpec, req: FastifyRequest, reply: FastifyReply, ctx: FeatureContext): Promise<unknown> {
    const p = spec.pipeline;
    const seg = await ctx.requireCredentials(req, reply);
    if (!seg) return reply;
    if ((inFlight[p] ?? 0) >= capacityOf(p)) {
      counters.busy++;
      return reply.code(503).type("text/plain").send("insufficient capacity");
    }
    inFlight[p] = (inFlight[p] ?? 0) + 1;
    requests[p] = (requests[p] ?? 0) + 1;
    let streaming = false;
    try {
      const body = await readBody(spec, req);
      if (typeof body === "string") return reply.code(400).send(detail(body));
      const v = validateFields(spec, body.raw, body.mode, new Set(body.files.keys()));
      if (!v.ok) return reply.code(422).send({ detail: v.issues });
      const sem = semanticError(spec, v.values);
      if (sem) return reply.code(400).send(detail(sem));
      const model = resolveModel(spec, v.values);
      if (!modelsOf(p).includes(model)) return reply.code(503).type("text/plain").send(`model ${model} is not loaded`);
      const file = spec.file ? body.files.get(spec.file)! : Buffer.alloc(0);
      let units = 0;
      if (ctx.paymentRequired) {
        // Units from the fields the request carried (go's defaults for the others) and the upload.
        const sent = Object.fromEntries(Object.entries(v.values).filter(([k]) => Object.hasOwn(body.raw, k)));
        units = aiWorkUnits(p, sent, await mediaFacts(spec, file));
      }
      const work = await ctx.acceptPayment(req, reply, { balanceKey: aiManifestId(spec.capability, model), capability: spec.capability, modelId: model });
      if (!work) return reply;
      const extra = latency[p] ?? 0;
      if (extra > 0) {
        // A gateway hanging up (its client left, its timeout) stops the work, as a runner would.
        const gone = new AbortController();
        const onClose = () => gone.abort();
        reply.raw.once("close", onClose);
        try {
          await sleep(extra, undefined, { signal: gone.signal });
        } catch {
          counters.abandoned++;
          return reply;
        } finally {
          reply.raw.off("close", onClose);
        }
      }
      if (await ctx.applyKnobs()) {
        counters.failures++;
        return reply.code(500).send(detail("injected failure"));
      }
      const asUrl = opts.resultsAs === "url" || (opts.resultsAs !== "data" && req.headers.authorization === AI_WORKER_AUTHORIZATION);
      const media = (m: standins.MediaOut) => ({
        url: asUrl ? ctx.publicUrl(results.put(`result${RESULT_EXT[m.contentType] ?? ""}`, m.data, m.contentType)) : `data:${m.contentType};base64,${m.data.toString("base64")}`,
        seed: m.seed,
        nsfw: m.nsfw,
      });
      let answer: unknown;
      switch (p) {
        case "text-to-image":
          answer = { images: (await standins.textToImage(v.values, zeroCost)).map(media) };
          break;
        case "image-to-image":
          answer = { images: (await standins.imageToImage(v.values, file)).map(media) };
          break;
        case "upscale":
          answer = { images: (await standins.upscale(v.values, file)).map(media) };
          break;
        case "image-to-video":
          answer = { images: (await standins.imageToVideo(v.values, file)).map(media) };
          break;
        case "audio-to-text":
          answer = await standins.audioToText(v.values, file);
          break;
        case "segment-anything-2":
          answer = await standins.segmentAnything2(v.values, file);
          break;
        case "image-to-text":
          answer = await standins.imageToText(v.values, file);
          break;
        case "text-to-speech":
          answer = { audio: { url: media(await standins.textToSpeech(v.values)).url } };
          break;
        case "llm": {
          streaming = v.values.stream === true;
          const produced = { tokens: 0 };
          await llm(v.values, model, req, reply, produced);
          // go debits max_tokens; the answer's own token count is what was really produced.
          work.debit(produced.tokens);
          return reply;
        }
      }
      work.debit(units);
      return reply.send(answer);
    } catch (err) {
      if (err instanceof UnsupportedMediaError) return reply.code(415).send(detail(err.message));
      counters.failures++;
      ctx.log.warn({ pipeline: p, err: (err as Error).message }, "AI stand-in failed");
      if (streaming || reply.sent) return reply;
      return reply.code(500).send(detail(`${p} failed: ${(err as Error).message}`.slice(0, 500)));
    } finally {
      inFlight[p] = Math.max(0, (inFlight[p] ?? 1) - 1);
    }
  }

  /** Answers the llm request; `produced.tokens` ends as the completion tokens sent (fewer when a stream's caller hangs up). */
  async function llm(v: Record<string, FieldValue | undefined>, model: string, req: FastifyRequest, reply: FastifyReply, produced: { tokens: number }): Promise<unknown> {
    const { tokens, promptTokens, finishReason } = standins.llmTokens(v.messages as LlmMessage[], Number(v.max_tokens));
    const id = `chatcmpl-${randomBytes(12).toString("hex")}`;
    const created = Math.floor(Date.now() / 1000);
    const usage = (completion: number) => ({ prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion });
    if (v.stream !== true) {
      if (tokenDelayMs > 0) await sleep(tokenDelayMs * tokens.length);
      produced.tokens = tokens.length;
      return reply.send({
        id, model, created, usage: usage(tokens.length),
        choices: [{ index: 0, finish_reason: finishReason, message: { role: "assistant", content: tokens.join("") } }],
      });
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
    res.flushHeaders?.();
    let closed = false;
    req.raw.on("close", () => (closed = true));
    res.on("close", () => (closed = true));
    for (let i = 0; i < tokens.length && !closed; i++) {
      if (tokenDelayMs > 0) await sleep(tokenDelayMs);
      const last = i === tokens.length - 1;
      const chunk = {
        id, model, created, usage: usage(i + 1),
        choices: [{ index: 0, finish_reason: last ? finishReason : null, delta: { role: "assistant", content: tokens[i] } }],
      };
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      produced.tokens = i + 1;
    }
    if (!closed) res.end("data: [DONE]\n\n");
    return reply;
  }

  return {
    name: "ai",
    capabilities,
    register,
    async close() {
      results.close();
    },
    stats,
    configure,
    prepareConfigure(section) {
      const changes = parseAiChanges(section);
      return typeof changes === "string" ? changes : () => configure(changes);
    },
  };

  function stats(): AiFeatureStats {
    return { requests: { ...requests }, busy: counters.busy, failures: counters.failures, abandoned: counters.abandoned, inFlight: { ...inFlight } };
  }

  function configure(changes: AiFeatureChanges): void {
    if (changes.capacity !== undefined) capacityOpt = changes.capacity;
    if (changes.latencyMs) Object.assign(latency, changes.latencyMs);
    if (changes.llmTokenDelayMs !== undefined) tokenDelayMs = changes.llmTokenDelayMs;
    if (changes.zeroCost !== undefined) zeroCost = changes.zeroCost;
    if (changes.resultsUnavailable !== undefined) resultsUnavailable = changes.resultsUnavailable;
  }
}
