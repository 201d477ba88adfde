// Trickle's wire vocabulary: header names, the 470 status, and parsing of channel names and seqs.

export const HEADER_SEQ = "Lp-Trickle-Seq";
export const HEADER_LATEST = "Lp-Trickle-Latest";
export const HEADER_CLOSED = "Lp-Trickle-Closed";
export const HEADER_RESET = "Lp-Trickle-Reset";
/** Status for "the channel exists but that seq is gone or too far ahead". */
export const STATUS_SEQ_NOT_FOUND = 470;

const SEQ_RE = /^-?\d{1,15}$/;

export function parseSeq(raw: string): number | undefined {
  if (!SEQ_RE.test(raw)) return undefined;
  const n = Number(raw);
  return n >= -2 ? n : undefined;
}

export function validChannelName(name: string): boolean {
  return name.length > 0 && name.length <= 256 && !name.includes("/") && name !== "." && name !== "..";
}

export function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

export function toBuffer(data: Uint8Array | string): Buffer {
  return typeof data === "string" ? Buffer.from(data) : Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
