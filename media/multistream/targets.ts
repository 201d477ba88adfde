// A stream's multistream targets as stored in its options: validation of what the API accepts.

export interface MultistreamTarget {
  /** rtmp:// or rtmps:// URL, stream key included (e.g. rtmp://a.rtmp.youtube.com/live2/<key>). */
  url: string;
  /** "source", a ladder rendition's name, or "ai" (a live AI stream's output). */
  rendition: string;
}

export const MAX_MULTISTREAM_TARGETS = 10;
const MAX_URL_CHARS = 2048;
const RENDITION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The targets as stored, or the reason they are refused (a message naming the field). */
export function parseMultistreamTargets(input: unknown, field = "multistream"): { ok: true; targets: MultistreamTarget[] } | { ok: false; reason: string } {
  if (!Array.isArray(input)) return { ok: false, reason: `${field} must be an array of {url, rendition}` };
  if (input.length > MAX_MULTISTREAM_TARGETS) return { ok: false, reason: `${field}: at most ${MAX_MULTISTREAM_TARGETS} targets per stream (got ${input.length})` };
  const targets: MultistreamTarget[] = [];
  for (const [i, t] of input.entries()) {
    const at = `${field}[${i}]`;
    if (typeof t !== "object" || t === null) return { ok: false, reason: `${at} must be an object {url, rendition}` };
    const { url, rendition = "source" } = t as { url?: unknown; rendition?: unknown };
    if (typeof url !== "string" || url.length > MAX_URL_CHARS) return { ok: false, reason: `${at}.url must be an rtmp:// or rtmps:// URL of at most ${MAX_URL_CHARS} characters` };
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { ok: false, reason: `${at}.url is not a URL` };
    }
    if (parsed.protocol !== "rtmp:" && parsed.protocol !== "rtmps:") return { ok: false, reason: `${at}.url must start with rtmp:// or rtmps:// (got ${parsed.protocol}//)` };
    if (!parsed.hostname) return { ok: false, reason: `${at}.url has no host` };
    if (parsed.pathname.split("/").filter(Boolean).length < 1) return { ok: false, reason: `${at}.url needs an application and stream key path (rtmp://host/app/key)` };
    if (typeof rendition !== "string" || !RENDITION_NAME.test(rendition)) return { ok: false, reason: `${at}.rendition must be "source", a ladder rendition's name or "ai"` };
    targets.push({ url, rendition });
  }
  return { ok: true, targets };
}

/** The URL with its stream key hidden, for events and logs (the key is a secret of the target's owner). */
export function redactTargetUrl(url: string): string {
  try {
    const u = new URL(url);
    const parts = u.pathname.split("/");
    if (parts.length > 2) parts[parts.length - 1] = "***";
    return `${u.protocol}//${u.host}${parts.join("/")}`;
  } catch {
    return "(invalid url)";
  }
}
