// Small request helpers of the development orchestrator's apps feature (feature.ts).
import type { FastifyRequest } from "fastify";

/** decodeURIComponent, or the text as is when it is not valid %-encoding. */
export const decodeOr = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};
/** The first value of a request header. */
export const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

/** The request's body as text, up to 64 KiB (undefined past that). */
export async function readText(req: FastifyRequest): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req.raw) {
    size += (c as Buffer).length;
    if (size > 64 * 1024) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function readJson(req: FastifyRequest): Promise<Record<string, unknown> | undefined> {
  const text = await readText(req);
  try {
    return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    return undefined;
  }
}
