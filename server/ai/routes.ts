// The batch AI HTTP API at the root of Wharf's origin (Livepeer's public AI API, protocol/ai/spec.ts): the nine
// `POST /<pipeline>` routes, `POST /image-to-video/result`, in one encapsulated
// fastify plugin whose error handler answers in the Livepeer SDK's shapes
// (`{"detail": {"msg"}}`, 422 `{"detail": [{"loc", "msg", "type"}]}`) without
// touching Wharf's own `/v1` error shape. Multipart form strings are coerced here
// (protocol/ai/spec.ts), JSON bodies are checked strictly.
import { metrics } from "../../core/metrics.ts";
import { randomUUID } from "node:crypto";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import multipart from "@fastify/multipart";
import { FormData } from "undici";
import { moduleLogger } from "../../core/log.ts";
import { probeAudio, probeImage, UnsupportedMediaError, type AudioInfo, type ImageInfo } from "../../protocol/ai/media-facts.ts";
import { Cancellation } from "./cancellation.ts";
import { formLimits, readFormBody, type FormCaps } from "./form-body.ts";
import { MAX_JSON_DEPTH, nestedDeeperThan } from "../../core/json-depth.ts";
import { AiHttpError, type AiJob, type AiOutcome, type AiService } from "./service.ts";
import {
  AI_PIPELINES, PIPELINE_SPECS, billingUnits, resolveModel, unitCeiling,
  type FieldValue, type PipelineSpec,
} from "../../protocol/ai/spec.ts";
import { semanticError, validateFields } from "../../protocol/ai/validation.ts";
import { openEventStream } from "../api/sse.ts";

const log = moduleLogger("ai-routes");

export type PreHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface AiRoutesOptions {
  service: AiService;
  /** Authentication preHandler for scope "ai", refusing in the SDK's shape (`auth.requireScope("ai", sdkRefusal)`). */
  auth: PreHandler;
  /** Per uploaded file (default 50 MiB, as the ai-runner). */
  maxUploadBytes?: number;
  /** Per multipart text field (default 2 MiB: a SAM2 mask_input of 256x256 logits as JSON is ~1.6 MB). A multipart body may be one file plus this. */
  maxFieldBytes?: number;
  /** JSON bodies (default 4 MiB). */
  maxJsonBytes?: number;
  /** How long async image-to-video outcomes are kept (default 1 h). */
  asyncTtlMs?: number;
  /** Every answered request: pipeline, status and duration (the dashboard's AI figures). */
  observe?: (pipeline: string, status: number, durationMs: number) => void;
}

interface ParsedRequest {
  raw: Record<string, unknown>;
  mode: "json" | "form";
  file?: { field: string; data: Buffer; filename: string; mimetype: string };
  files: ReadonlySet<string>;
}

const NO_FILES: ReadonlySet<string> = new Set();

interface AsyncJob {
  keyId: string;
  state: "processing" | "complete" | "error";
  result?: Record<string, unknown>;
  error?: AiHttpError;
  expiresAt: number;
}

const detail = (msg: string) => ({ detail: { msg } });

/** Key refusals (401/403/429) in the SDK's shape: the guard's `formatError` for the AI routes. */
export const sdkRefusal = (_status: number, _error: string, message: string) => detail(message);

export async function registerAiRoutes(app: FastifyInstance, opts: AiRoutesOptions): Promise<void> {
  const maxUpload = opts.maxUploadBytes ?? 50 * 1024 * 1024;
  const maxJson = opts.maxJsonBytes ?? 4 * 1024 * 1024;
  const maxField = opts.maxFieldBytes ?? 2 * 1024 * 1024;
  const formCaps: FormCaps = { totalBytes: maxUpload + maxField, fileBytes: maxUpload, fieldBytes: maxField };
  const asyncTtl = opts.asyncTtlMs ?? 60 * 60 * 1000;
  const jobs = new Map<string, AsyncJob>();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, j] of jobs) if (j.state !== "processing" && j.expiresAt <= now) jobs.delete(id);
  }, 60_000);
  sweep.unref();
  app.addHook("onClose", async () => clearInterval(sweep));

  await app.register(async (sub) => {
    await sub.register(multipart, { limits: formLimits(formCaps) });

    sub.setErrorHandler((err: FastifyError | AiHttpError | UnsupportedMediaError, req, reply) => {
      if (err instanceof AiHttpError) return reply.code(err.status).headers(err.headers).send(err.body);
      if (err instanceof UnsupportedMediaError) return reply.code(415).send(detail(err.message));
      const e = err as FastifyError;
      const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
      if (status === 413) return reply.code(413).send(detail(`request too large: JSON bodies are limited to ${maxJson} bytes, multipart bodies to ${formCaps.totalBytes} bytes (files to ${maxUpload} bytes each)`));
      if (e.code === "FST_ERR_CTP_INVALID_JSON_BODY" || e instanceof SyntaxError) return reply.code(400).send(detail(`malformed JSON body: ${e.message}`));
      if (e.code === "FST_ERR_CTP_EMPTY_JSON_BODY") return reply.code(400).send(detail("the JSON body is empty"));
      if (status === 415) return reply.code(415).send(detail(`unsupported content type "${req.headers["content-type"] ?? ""}"`));
      if (status >= 500) req.log.error({ err }, "AI request failed");
      // An error meant for the client (expose, e.g. a shared store unreachable: 503) says what it is.
      return reply.code(status).send(detail(status >= 500 && (e as { expose?: boolean }).expose !== true ? `internal error: ${e.message}` : e.message));
    });

    // Callback-style hook: no promise per request on the hot path.
    sub.addHook("onResponse", (req, reply, done) => {
      const pipeline = (req.routeOptions.url ?? "/unknown").slice(1);
      metrics.aiRequests.inc({ pipeline, status: String(reply.statusCode) });
      metrics.aiDuration.observe({ pipeline }, reply.elapsedTime / 1000);
      opts.observe?.(pipeline, reply.statusCode, reply.elapsedTime);
      done();
    });

    for (const p of AI_PIPELINES) {
      const spec = PIPELINE_SPECS[p];
      sub.post(`/${p}`, { preHandler: opts.auth, bodyLimit: spec.body === "json" ? maxJson : formCaps.totalBytes }, (req, reply) => handle(spec, req, reply));
    }

    sub.post("/image-to-video/result", { preHandler: opts.auth, bodyLimit: 64 * 1024 }, async (req, reply) => {
      const body = req.body as Record<string, unknown> | undefined;
      const id = body && typeof body === "object" ? body.request_id : undefined;
      if (typeof id !== "string" || !id) return reply.code(422).send({ detail: [{ loc: ["body", "request_id"], msg: "request_id: Field required", type: "missing" }] });
      const job = jobs.get(id);
      if (!job || job.keyId !== keyIdOf(req)) return reply.code(404).send(detail(`request_id ${id} is unknown or expired`));
      if (job.state === "processing") return reply.code(202).send({ status: "processing", request_id: id });
      if (job.state === "complete") return reply.send({ status: "complete", request_id: id, result: job.result });
      const err = job.error!;
      return reply.code(err.status).headers(err.headers).send({ status: "error", request_id: id, ...(err.body as object) });
    });
  });

  function keyIdOf(req: FastifyRequest): string {
    return req.apiKey?.id ?? "anonymous";
  }

  async function readRequest(spec: PipelineSpec, req: FastifyRequest, reply: FastifyReply): Promise<ParsedRequest> {
    if (spec.body === "json") {
      const b = req.body;
      if (b === undefined || b === null) throw AiHttpError.msg(400, "expected a JSON body (Content-Type: application/json)");
      if (typeof b !== "object" || Array.isArray(b)) throw new AiHttpError(422, { detail: [{ loc: ["body"], msg: "body: Input should be a JSON object", type: "model_attributes_type" }] });
      return { raw: b as Record<string, unknown>, mode: "json", files: NO_FILES };
    }
    if (!req.isMultipart()) throw AiHttpError.msg(415, `${spec.pipeline} expects multipart/form-data with a file part "${spec.file}"`);
    const form = await readFormBody(req, reply.raw, spec.file, formCaps);
    return { raw: form.fields, mode: "form", file: form.file, files: form.files };
  }

  /** The first field nested deeper than MAX_JSON_DEPTH (recursive code downstream would overflow the stack on it). */
  function tooDeep(fields: Record<string, unknown>): string | undefined {
    for (const k in fields) if (nestedDeeperThan(fields[k], MAX_JSON_DEPTH)) return k;
    return undefined;
  }

  function buildBody(spec: PipelineSpec, v: Record<string, FieldValue | undefined>, model: string, file: ParsedRequest["file"]): () => { body: string | FormData; contentType?: string } {
    const values = { ...v, [spec.modelField]: model };
    if (spec.body === "json") {
      const json = JSON.stringify(values);
      return () => ({ body: json, contentType: "application/json" });
    }
    return () => {
      const fd = new FormData();
      for (const f of spec.fields) {
        if (f.type === "file") {
          if (file) fd.append(f.name, new Blob([file.data as unknown as BlobPart], { type: file.mimetype || "application/octet-stream" }), file.filename);
          continue;
        }
        const x = values[f.name];
        if (x === undefined || x === null) continue;
        fd.append(f.name, f.type === "json" ? JSON.stringify(x) : String(x));
      }
      return { body: fd };
    };
  }

  async function handle(spec: PipelineSpec, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    // On every answer, errors too: the id to quote, the one in the logs and the usage record.
    reply.header("x-request-id", req.id);
    const parsed = await readRequest(spec, req, reply);
    const v = validateFields(spec, parsed.raw, parsed.mode, parsed.files);
    if (!v.ok) return reply.code(422).send({ detail: v.issues });
    // JSON bodies: every field, known or not; forms: the JSON-typed fields once parsed.
    const deep = tooDeep(parsed.mode === "json" ? parsed.raw : v.values);
    if (deep) return reply.code(400).send(detail(`${deep}: objects and arrays must not nest deeper than ${MAX_JSON_DEPTH} levels`));
    const sem = semanticError(spec, v.values);
    if (sem) return reply.code(400).send(detail(sem));
    let image: ImageInfo | undefined;
    let audio: AudioInfo | undefined;
    if (spec.file === "image") image = await probeImage(parsed.file!.data);
    else if (spec.file === "audio") audio = await probeAudio(parsed.file!.data);
    const model = resolveModel(spec, v.values);
    const units = billingUnits(spec, v.values, { imageWidth: image?.width, imageHeight: image?.height, audioDurationMs: audio?.durationMs });
    const keyId = keyIdOf(req);
    const job: AiJob = {
      requestId: req.id, spec, model, units, unitCeiling: unitCeiling(spec, v.values), keyId, key: req.apiKey,
      body: buildBody(spec, v.values, model, parsed.file), stream: spec.pipeline === "llm" && v.values.stream === true,
    };

    if (spec.pipeline === "image-to-video" && /(^|[,;\s])respond-async($|[,;\s])/i.test(String(req.headers.prefer ?? ""))) {
      const id = randomUUID();
      const entry: AsyncJob = { keyId, state: "processing", expiresAt: Date.now() + asyncTtl };
      jobs.set(id, entry);
      opts.service.run(job).then(
        (o) => {
          entry.state = "complete";
          entry.result = (o as Extract<AiOutcome, { kind: "json" }>).body;
          entry.expiresAt = Date.now() + asyncTtl;
        },
        (err: unknown) => {
          entry.state = "error";
          entry.error = err instanceof AiHttpError ? err : AiHttpError.msg(500, `image-to-video failed: ${(err as Error).message}`);
          entry.expiresAt = Date.now() + asyncTtl;
          if (!(err instanceof AiHttpError)) log.error({ err }, "async image-to-video failed");
        },
      );
      return reply.code(202).header("preference-applied", "respond-async").send({ request_id: id });
    }

    const cancel = new Cancellation();
    // A client gone before this point (while its key or body was checked) had its close already.
    if (reply.raw.destroyed) cancel.cancel("client closed the request");
    else reply.raw.on("close", () => {
      if (!reply.raw.writableFinished) cancel.cancel("client closed the request");
    });
    job.cancel = cancel;
    const outcome = await opts.service.run(job);
    if (outcome.kind === "json") return reply.send(outcome.body);
    return relayStream(outcome, reply);
  }

  async function relayStream(outcome: Extract<AiOutcome, { kind: "stream" }>, reply: FastifyReply): Promise<FastifyReply> {
    const raw = openEventStream(reply);
    raw.flushHeaders();
    raw.on("close", () => {
      if (!raw.writableFinished) outcome.abort();
    });
    let tail = "";
    try {
      for await (const chunk of outcome.body) {
        if (raw.destroyed) break;
        raw.write(chunk);
        tail = (tail + Buffer.from(chunk).toString("utf8")).slice(-64);
      }
    } catch (err) {
      if (!raw.destroyed) raw.write(`data: ${JSON.stringify({ error: { message: `orchestrator stream failed: ${(err as Error).message}` } })}\n\n`);
    }
    if (!raw.destroyed) {
      if (!/data: \[DONE\]\s*$/.test(tail)) raw.write("data: [DONE]\n\n");
      raw.end();
    }
    return reply;
  }
}
