// Records a live HLS media playlist over time (every entry by media sequence number, and when it
// was first listed) and measures its stalls: holes in program-date-time, long EXTINFs, unmarked
// gaps, and what a viewer sees: a player that starts 3 target durations behind the live edge (as
// RFC 8216 asks of players, and hls.js does) and plays every listed segment at 1x stalls when the
// next segment is not listed by the time it is needed.

export interface RecordedEntry {
  msn: number;
  durationS: number;
  pdtMs: number;
  gap: boolean;
  discontinuity: boolean;
  firstListedAt: number;
}

export interface PlaylistStalls {
  entries: number;
  gaps: number;
  discontinuities: number;
  /** Media sequence numbers that were never seen (the window slid past them between polls). */
  missed: number;
  /** Largest hole between one entry's end and the next one's program-date-time, ms. */
  maxPdtHoleMs: number;
  maxExtinfS: number;
  /** Holes over half a segment duration with neither EXT-X-DISCONTINUITY nor EXT-X-GAP. */
  unmarkedHoles: string[];
  /** Every hole over half a segment duration: "#msn: N ms (marked|unmarked)". */
  holes: string[];
  /** Longest wall-clock wait between two new entries appearing in the playlist, ms. */
  maxListingWaitMs: number;
  /** The simulated player's longest stall (next segment not listed when needed), ms. */
  maxPlayerStallMs: number;
  /** Its stalls over 100 ms: "#msn: N ms". */
  playerStalls: string[];
}

/**
 * A player that starts once `holdBackS` of media is listed and then plays the listed segments in
 * order at 1x (media missing between two entries, marked by a discontinuity, is skipped as
 * players do): each stall is how long a segment was listed after the moment it was needed.
 */
export function simulatePlayer(list: RecordedEntry[], holdBackS: number): { maxStallMs: number; stalls: string[] } {
  let buffered = 0;
  let start = -1;
  for (const e of list) {
    buffered += e.durationS;
    if (buffered >= holdBackS) {
      start = e.firstListedAt;
      break;
    }
  }
  if (start < 0) return { maxStallMs: 0, stalls: [] };
  let clock = start;
  let maxStallMs = 0;
  const stalls: string[] = [];
  for (const e of list) {
    if (e.firstListedAt > clock) {
      const stall = e.firstListedAt - clock;
      maxStallMs = Math.max(maxStallMs, stall);
      if (stall > 100) stalls.push(`#${e.msn}: ${Math.round(stall)} ms`);
      clock = e.firstListedAt;
    }
    clock += e.durationS * 1000;
  }
  return { maxStallMs, stalls };
}

export function parseMediaPlaylist(text: string, now: number): RecordedEntry[] {
  const out: RecordedEntry[] = [];
  let msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? 0);
  let pdtMs = NaN;
  let durationS = 0;
  let gap = false;
  let discontinuity = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) pdtMs = Date.parse(line.slice(25));
    else if (line.startsWith("#EXTINF:")) durationS = Number(line.slice(8).split(",")[0]);
    else if (line === "#EXT-X-GAP") gap = true;
    else if (line === "#EXT-X-DISCONTINUITY") discontinuity = true;
    else if (line && !line.startsWith("#")) {
      out.push({ msn: msn++, durationS, pdtMs, gap, discontinuity, firstListedAt: now });
      gap = discontinuity = false;
      pdtMs = NaN;
    }
  }
  return out;
}

export function recordPlaylist(url: string, intervalMs = 200): { stop(): Promise<RecordedEntry[]> } {
  const entries = new Map<number, RecordedEntry>();
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
        if (res.ok) for (const e of parseMediaPlaylist(await res.text(), Date.now())) if (!entries.has(e.msn)) entries.set(e.msn, e);
      } catch {
        /* not there yet, or slow: the next poll tells */
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return [...entries.values()].sort((a, b) => a.msn - b.msn);
    },
  };
}

export function measureStalls(list: RecordedEntry[], segmentDurationS: number): PlaylistStalls {
  const player = simulatePlayer(list, 3 * segmentDurationS);
  const s: PlaylistStalls = {
    entries: list.length, gaps: 0, discontinuities: 0, missed: 0, maxPdtHoleMs: 0, maxExtinfS: 0, unmarkedHoles: [], holes: [], maxListingWaitMs: 0,
    maxPlayerStallMs: player.maxStallMs, playerStalls: player.stalls,
  };
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    if (e.gap) s.gaps++;
    if (e.discontinuity) s.discontinuities++;
    s.maxExtinfS = Math.max(s.maxExtinfS, e.durationS);
    const prev = list[i - 1];
    if (!prev) continue;
    if (e.msn !== prev.msn + 1) {
      s.missed += e.msn - prev.msn - 1;
      continue;
    }
    const holeMs = e.pdtMs - (prev.pdtMs + prev.durationS * 1000);
    s.maxPdtHoleMs = Math.max(s.maxPdtHoleMs, holeMs);
    if (holeMs > (segmentDurationS * 1000) / 2) {
      const marked = e.discontinuity || e.gap;
      s.holes.push(`#${e.msn}: ${Math.round(holeMs)} ms ${marked ? "marked" : "unmarked"}`);
      if (!marked) s.unmarkedHoles.push(`#${e.msn}: ${Math.round(holeMs)} ms after #${prev.msn}`);
    }
    s.maxListingWaitMs = Math.max(s.maxListingWaitMs, e.firstListedAt - prev.firstListedAt);
  }
  return s;
}
