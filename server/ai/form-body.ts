// Reading a batch AI request's multipart body under its caps: the whole body, each file and
// each text field, refused (413) as the bytes arrive rather than after they were buffered.
//
// @fastify/multipart (10.1.9) pipes the raw request straight into busboy: the route's
// bodyLimit never applies to it, and busboy's own limits are per part (a field over
// `fieldSize` is silently truncated, not refused). 30 text fields of 16 MiB were read whole
// (480 MB, RSS +500 MB) and the request was billed. Here the raw request's bytes are
// counted as they stream in; past the cap the parse is abandoned and the client gets a 413.
// Malformed bodies (no boundary, an unterminated part) are 400s, not 500s.
//
// After a refusal the rest of the body is read and dropped for a while (as nginx's
// lingering close does): closing a socket with unread bytes in it sends a reset, and a
// client still sending then sees ECONNRESET/EPIPE instead of the 413. The dropping is
// bounded (LINGER_BYTES, LINGER_MS after the answer went out); then the connection is closed.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyRequest } from "fastify";
import { AiHttpError } from "./service.ts";

/** What a refused client may still send before its connection is closed. */
const LINGER_BYTES = 16 * 1024 * 1024;
const LINGER_MS = 5000;

export interface FormCaps {
  /** The whole body, multipart framing included (the route's bodyLimit). */
  totalBytes: number;
  /** Each uploaded file. */
  fileBytes: number;
  /** Each text field. */
  fieldBytes: number;
}

export interface FormBody {
  fields: Record<string, string>;
  /** The file part named `wanted`, when sent. */
  file?: { field: string; data: Buffer; filename: string; mimetype: string };
  /** Every file part's field name. */
  files: ReadonlySet<string>;
}

/** Count limits handed to busboy: a pipeline has at most 12 fields and one file. */
export const FORM_COUNT_LIMITS = { fields: 64, files: 2, parts: 80 } as const;

/** @fastify/multipart's `limits` for these caps (a field longer than fieldSize is marked truncated). */
export function formLimits(caps: FormCaps): { fileSize: number; fieldSize: number; fields: number; files: number; parts: number } {
  return { fileSize: caps.fileBytes, fieldSize: caps.fieldBytes, ...FORM_COUNT_LIMITS };
}

function tooLarge(caps: FormCaps, what: string): AiHttpError {
  return AiHttpError.msg(
    413,
    `request too large: ${what} (multipart bodies are limited to ${caps.totalBytes} bytes, files to ${caps.fileBytes} bytes each, text fields to ${caps.fieldBytes} bytes each)`,
  );
}

/** An error out of @fastify/multipart or busboy as the client's answer. */
function refusal(err: unknown, caps: FormCaps): AiHttpError {
  if (err instanceof AiHttpError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode === 413) {
    const what = e.code === "FST_REQ_FILE_TOO_LARGE" ? "a file is over its limit" : `${e.message ?? "too many parts"} (at most ${FORM_COUNT_LIMITS.fields} fields and ${FORM_COUNT_LIMITS.files} files)`;
    return tooLarge(caps, what);
  }
  // "Multipart: Boundary not found", "Unexpected end of multipart data", a premature close...
  return AiHttpError.msg(400, `malformed multipart body: ${e.message ?? String(err)}`);
}

/** After a refusal: drop what the client still sends (bounded), so that it reads the answer instead of a reset. */
function dropRest(raw: IncomingMessage, res: ServerResponse): void {
  raw.unpipe();
  if (raw.readableEnded || raw.destroyed) return;
  let dropped = 0;
  let timer: NodeJS.Timeout | undefined;
  const stop = () => {
    clearTimeout(timer);
    raw.off("data", drop);
  };
  const close = () => {
    stop();
    raw.socket?.destroy();
  };
  const drop = (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) close();
  };
  raw.on("data", drop);
  raw.once("end", stop);
  raw.once("close", stop);
  const answered = () => {
    if (raw.readableEnded || raw.destroyed) return;
    timer = setTimeout(close, LINGER_MS);
    timer.unref();
  };
  if (res.writableFinished) answered();
  else res.once("finish", answered);
  raw.resume();
}

/**
 * Reads the parts of `req` (registered with @fastify/multipart, `formLimits(caps)`).
 * Throws AiHttpError 413 or 400.
 */
export async function readFormBody(req: FastifyRequest, res: ServerResponse, wanted: string | undefined, caps: FormCaps): Promise<FormBody> {
  const raw = req.raw;
  const declared = Number(req.headers["content-length"]);
  if (declared > caps.totalBytes) {
    dropRest(raw, res);
    throw tooLarge(caps, `Content-Length is ${declared} bytes`);
  }
  let received = 0;
  let refuse!: (err: AiHttpError) => void;
  const refused = new Promise<never>((_, reject) => (refuse = reject));
  refused.catch(() => {}); // only ever awaited through the races below
  // The answer is final once refused: busboy gets nothing more.
  const stopReading = () => {
    raw.off("data", count);
    dropRest(raw, res);
  };
  const count = (chunk: Buffer) => {
    received += chunk.length;
    if (received > caps.totalBytes) {
      stopReading();
      refuse(tooLarge(caps, `more than ${caps.totalBytes} bytes were sent`));
    }
  };
  // Listening before req.parts() pipes the request: both see every chunk, in order.
  raw.on("data", count);
  const fields: Record<string, string> = {};
  const files = new Set<string>();
  let file: FormBody["file"];
  const parts = req.parts()[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await Promise.race([parts.next(), refused]);
      if (next.done) break;
      const part = next.value;
      if (part.type === "file") {
        const data = await Promise.race([part.toBuffer(), refused]);
        files.add(part.fieldname);
        if (part.fieldname === wanted) file = { field: part.fieldname, data, filename: part.filename || wanted, mimetype: part.mimetype };
      } else {
        if (part.valueTruncated) throw tooLarge(caps, `the field "${part.fieldname}" is over ${caps.fieldBytes} bytes`);
        fields[part.fieldname] = typeof part.value === "string" ? part.value : String(part.value);
      }
    }
  } catch (err) {
    stopReading();
    throw refusal(err, caps);
  }
  raw.off("data", count);
  return { fields, file, files };
}
