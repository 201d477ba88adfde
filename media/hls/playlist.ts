// HLS playlist text (RFC 8216): multivariant and sliding-window media playlists.
import type { Rendition } from "../hub/types.ts";

export interface PlaylistEntry {
  /** Media sequence number. */
  msn: number;
  duration: number;
  /** Wall-clock time of the segment's first frame. */
  programDateTime: number;
  discontinuity: boolean;
  /** A gap: the segment could not be produced; players must skip it. */
  gap: boolean;
}

export interface MediaPlaylistState {
  targetDuration: number;
  mediaSequence: number;
  discontinuitySequence: number;
  entries: PlaylistEntry[];
  ended: boolean;
}

export function mediaPlaylist(state: MediaPlaylistState, uri: (msn: number) => string): string {
  const lines = [
    "#EXTM3U",
    `#EXT-X-VERSION:${state.entries.some((e) => e.gap) ? 8 : 3}`,
    `#EXT-X-TARGETDURATION:${state.targetDuration}`,
    `#EXT-X-MEDIA-SEQUENCE:${state.mediaSequence}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${state.discontinuitySequence}`,
  ];
  for (const e of state.entries) {
    if (e.discontinuity) lines.push("#EXT-X-DISCONTINUITY");
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(e.programDateTime).toISOString()}`);
    if (e.gap) lines.push("#EXT-X-GAP");
    lines.push(`#EXTINF:${e.duration.toFixed(3)},`, uri(e.msn));
  }
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
