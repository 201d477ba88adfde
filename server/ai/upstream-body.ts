// Bodies between Wharf and an orchestrator's AI runner: a streamed answer metered as it passes,
// a FormData encoded for undici's dispatch, and an error body in the shape the SDKs read.
import { Response, type FormData } from "undici";
import type { StreamedUsage } from "./stream-usage.ts";

/** Yields `body` (each chunk shown to `usage` first) and runs `onEnd` once it is over: read to the end, failed, or left by its reader. */
export async function* endingWith(body: AsyncIterable<Uint8Array>, usage: StreamedUsage | undefined, onEnd: () => void): AsyncGenerator<Uint8Array> {
  try {
    if (!usage) yield* body;
    else {
      for await (const chunk of body) {
        usage.feed(chunk);
        yield chunk;
      }
    }
  } finally {
    onEnd();
  }
}

/** A body for undici's dispatch: FormData is encoded here (multipart, with its boundary). */
export async function encodeForm(fd: FormData): Promise<{ body: Buffer; contentType?: string }> {
  const r = new Response(fd);
  return { body: Buffer.from(await r.arrayBuffer()), contentType: r.headers.get("content-type") ?? undefined };
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `{"detail": ...}` from an orchestrator error body, else the text as `{"detail": {"msg"}}`. */
export function sdkErrorBody(text: string, status: number): unknown {
  const j = parseJson(text) as { detail?: unknown; error?: unknown; message?: unknown } | undefined;
  if (j && typeof j === "object" && "detail" in j) return j;
  if (j && typeof j === "object" && typeof j.message === "string") return { detail: { msg: j.message } };
  return { detail: { msg: text.trim() || `orchestrator answered ${status}` } };
}

