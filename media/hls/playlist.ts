// HLS playlist text (RFC 8216, and RFC 8216bis for low latency): multivariant and sliding-window media playlists.
import type { Rendition } from "../hub/types.ts";

/** One partial segment as listed (EXT-X-PART). */
export interface PartEntry {
  index: number;
  duration: number;
  independent: boolean;
}

export interface PlaylistEntry {
  /** Media sequence number. */
  msn: number;
  duration: number;
  /** Wall-clock time of the segment's first frame. */
  programDateTime: number;
  discontinuity: boolean;
  /** A gap: the segment could not be produced; players must skip it. */
  gap: boolean;
  /** Its parts, listed before it (only for the segments near the live edge). */
  parts?: PartEntry[];
}

/** The low-latency additions of a media playlist whose segments are cut into parts. */
export interface LowLatencyState {
  /** EXT-X-PART-INF PART-TARGET, seconds: no part is longer. */
  partTarget: number;
  /** EXT-X-SERVER-CONTROL PART-HOLD-BACK, seconds: how far from the live edge players stay. */
  partHoldBack: number;
  /** The segment being written: its parts so far, listed after the last complete segment. */
  open?: { msn: number; programDateTime: number; discontinuity: boolean; parts: PartEntry[] };
  /** The part that will come next (EXT-X-PRELOAD-HINT); absent once the stream ended. */
  hint?: { msn: number; part: number };
}

export interface MediaPlaylistState {
  targetDuration: number;
  mediaSequence: number;
  discontinuitySequence: number;
  entries: PlaylistEntry[];
  ended: boolean;
  lowLatency?: LowLatencyState;
}

const partLine = (p: PartEntry, uri: string): string =>
  `#EXT-X-PART:DURATION=${p.duration.toFixed(5)},URI="${uri}"${p.independent ? ",INDEPENDENT=YES" : ""}`;

export function mediaPlaylist(state: MediaPlaylistState, uri: (msn: number) => string, partUri: (msn: number, part: number) => string = (m, p) => `${m}.${p}.ts`): string {
  const ll = state.lowLatency;
  const gaps = state.entries.some((e) => e.gap);
  const lines = [
    "#EXTM3U",
    // GAP needs version 8; the low-latency tags are read by any client that knows them (6 for their attribute syntax).
    `#EXT-X-VERSION:${gaps ? 8 : ll ? 6 : 3}`,
    `#EXT-X-TARGETDURATION:${state.targetDuration}`,
  ];
  if (ll) {
    lines.push(
      `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${ll.partHoldBack.toFixed(3)}`,
      `#EXT-X-PART-INF:PART-TARGET=${ll.partTarget.toFixed(3)}`,
    );
  }
  lines.push(`#EXT-X-MEDIA-SEQUENCE:${state.mediaSequence}`, `#EXT-X-DISCONTINUITY-SEQUENCE:${state.discontinuitySequence}`);
  for (const e of state.entries) {
    if (e.discontinuity) lines.push("#EXT-X-DISCONTINUITY");
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(e.programDateTime).toISOString()}`);
    if (e.gap) lines.push("#EXT-X-GAP");
    for (const p of e.parts ?? []) lines.push(partLine(p, partUri(e.msn, p.index)));
    lines.push(`#EXTINF:${e.duration.toFixed(3)},`, uri(e.msn));
  }
  if (ll?.open && ll.open.parts.length > 0) {
    const o = ll.open;
    if (o.discontinuity) lines.push("#EXT-X-DISCONTINUITY");
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(o.programDateTime).toISOString()}`);
    for (const p of o.parts) lines.push(partLine(p, partUri(o.msn, p.index)));
  }
  if (ll?.hint && !state.ended) lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${partUri(ll.hint.msn, ll.hint.part)}"`);
  if (state.ended) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

export function multivariantPlaylist(renditions: Rendition[], uri: (name: string) => string): string {
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"];
  const ordered = [...renditions].sort((a, b) => b.bandwidth - a.bandwidth);
  for (const r of ordered) {
    const attrs = [`BANDWIDTH=${Math.round(r.bandwidth)}`];
    if (r.width && r.height) attrs.push(`RESOLUTION=${r.width}x${r.height}`);
    if (r.codecs) attrs.push(`CODECS="${r.codecs}"`);
    if (r.fps) attrs.push(`FRAME-RATE=${r.fps.toFixed(3)}`);
    attrs.push(`NAME="${r.name}"`);
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(",")}`, uri(r.name));
  }
  return lines.join("\n") + "\n";
}
