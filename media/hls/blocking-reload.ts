// Blocking playlist reload (RFC 8216bis 6.2.5.2): reading `_HLS_msn`/`_HLS_part`, and whether a playlist already answers them.

/** "Hold the playlist until it has segment `msn` (part `part` of it, when given) or anything later." */
export interface BlockingRequest {
  msn: number;
  part?: number;
}

export type ParsedBlockingRequest = { ok: true; request?: BlockingRequest } | { ok: false; reason: string };

/** Where a media playlist's live edge stands. */
export interface LiveEdge {
  /** MSN of the newest complete segment; -1 before the first. */
  lastMsn: number;
  /** Parts of that segment (0 when its rendition is not cut into parts). */
  lastParts: number;
  /** The segment being written and how many of its parts are complete. */
  open?: { msn: number; parts: number };
  /** Seconds; undefined when the rendition has no parts. */
  partTarget?: number;
  ended: boolean;
}

const MAX_NUMBER = 2 ** 52;

function nonNegativeInteger(value: unknown): number | undefined {
  if (typeof value !== "string" || !/^[0-9]{1,16}$/.test(value)) return undefined;
  const n = Number(value);
  return n <= MAX_NUMBER ? n : undefined;
}

/** The blocking request in a playlist URL's query, if any; a reason for a 400 when it is malformed. */
export function parseBlockingRequest(query: Record<string, unknown>): ParsedBlockingRequest {
  const rawMsn = query._HLS_msn;
  const rawPart = query._HLS_part;
  if (rawMsn === undefined) {
    if (rawPart !== undefined) return { ok: false, reason: "_HLS_part needs _HLS_msn" };
    return { ok: true };
  }
  const msn = nonNegativeInteger(rawMsn);
  if (msn === undefined) return { ok: false, reason: "_HLS_msn must be a non-negative integer" };
  if (rawPart === undefined) return { ok: true, request: { msn } };
  const part = nonNegativeInteger(rawPart);
  if (part === undefined) return { ok: false, reason: "_HLS_part must be a non-negative integer" };
  return { ok: true, request: { msn, part } };
}

/**
 * RFC 8216bis: a request more than two segments past the newest one, or more parts past the newest
 * part than the Advance Part Limit (3 / PART-TARGET below one second), asks for something the
 * server cannot promise soon: 400.
 */
export function tooFarAhead(edge: LiveEdge, req: BlockingRequest): boolean {
  const newestMsn = edge.open ? edge.open.msn : edge.lastMsn;
  if (req.msn > newestMsn + 2) return true;
  if (req.part === undefined || edge.partTarget === undefined) return false;
  const limit = edge.partTarget < 1 ? Math.ceil(3 / edge.partTarget) : 3;
  if (req.msn === newestMsn) {
    const newestPart = edge.open && edge.open.msn === newestMsn ? edge.open.parts - 1 : edge.lastParts - 1;
    return req.part > newestPart + limit;
  }
  return req.msn > newestMsn && req.part > limit;
}

/** Does the playlist at `edge` hold what `req` waits for (or will it never, because the stream ended)? */
export function satisfies(edge: LiveEdge, req: BlockingRequest): boolean {
  if (edge.ended || edge.lastMsn > req.msn) return true;
  if (req.part === undefined || edge.partTarget === undefined) return edge.lastMsn >= req.msn;
  // Part P of segment M, or any later part. A segment that completed with P parts or fewer never
  // gets part P: the next one after it is part 0 of the following segment.
  if (edge.lastMsn === req.msn && edge.lastParts > req.part) return true;
  const open = edge.open;
  if (!open || open.parts === 0) return false;
  return open.msn > req.msn || (open.msn === req.msn && open.parts > req.part);
}
