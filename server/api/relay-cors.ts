// CORS on answers Wharf relays from elsewhere (single-shot app runs, BYOC jobs, a session's app
// proxy): they are written to the raw response, past @fastify/cors's reply headers, so a browser
// that passed the preflight could still not read them. The same policy as every other route.

/** What @fastify/cors sends for every route (server/api/app.ts registers it with these). */
export const CORS_EXPOSED_HEADERS = ["Location", "ETag", "Link", "Retry-After", "Content-Type", "Accept-Post"];
const EXPOSED = CORS_EXPOSED_HEADERS.join(", ");

interface Headers {
  origin?: string;
}
interface Settable {
  setHeader(name: string, value: string): unknown;
  headersSent: boolean;
}

/**
 * For a request with an Origin, the CORS headers a relayed answer carries (`origin: true`: the
 * origin is echoed). Set before the relay writes its head; the relayed answer's own headers win.
 */
export function setRelayCors(req: { headers: Headers }, res: Settable): void {
  const origin = req.headers.origin;
  if (!origin || res.headersSent) return;
  res.setHeader("access-control-allow-origin", origin);
  res.setHeader("vary", "Origin");
  res.setHeader("access-control-expose-headers", EXPOSED);
}
