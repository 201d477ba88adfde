// The customer's part of an app URL (after `run/`, `app/` or `/process/request/`) joined to the
// runner's or the session's base URL on the orchestrator.
//
// A "." or ".." segment would be resolved away by the URL parser (`new URL` treats "%2e" as a dot
// and "\" as "/" in http URLs), so `run/../../echo/session` would reach another endpoint of the
// orchestrator: reserve another app's session, or run a pricier app billed as this one. Such a
// path is refused (400) before any runner is tried.

export const DOT_SEGMENT_MESSAGE = "the app path may not contain '.' or '..' segments";

/**
 * A segment that is ".", "..", or either %2e-escaped, between "/" or "\\" separators, before the
 * query or fragment (fastify hands a wildcard decoded: a "%23" in it is a "#" that ends the path).
 */
const DOT_SEGMENT = /(?:^|[/\\])(?:\.|%2e){1,2}(?:[/\\?#]|$)/i;

/**
 * Whether `pathAndQuery` (a path after a route's wildcard, with its query if any) has no dot
 * segment; only then does `${base}/${pathAndQuery}` stay under `base`. One regular expression:
 * this runs once per single-shot request.
 */
export function isSafeAppPath(pathAndQuery: string): boolean {
  const q = pathAndQuery.search(/[?#]/);
  return !DOT_SEGMENT.test(q >= 0 ? pathAndQuery.slice(0, q + 1) : pathAndQuery);
}

/** `base` + "/" + `pathAndQuery` as a URL, or undefined when the path has a dot segment. */
export function appUrl(base: string, pathAndQuery: string): URL | undefined {
  return isSafeAppPath(pathAndQuery) ? new URL(`${base}/${pathAndQuery}`) : undefined;
}
