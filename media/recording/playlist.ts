// The HLS VOD playlist of a recording (RFC 8216 4.3.3.5: EXT-X-PLAYLIST-TYPE:VOD, ends with EXT-X-ENDLIST).

export interface RecordedSegment {
  /** File name within the recording's folder, e.g. "12.ts". */
  uri: string;
  /** Seconds. */
  duration: number;
  size: number;
  /** The timeline breaks before this segment (orchestrator swap, publisher restart, a lost segment). */
  discontinuity: boolean;
}

/** A complete VOD playlist; `ended` false gives an EVENT playlist of what was recorded so far. */
export function vodPlaylist(segments: readonly RecordedSegment[], ended = true): string {
  const target = Math.max(1, ...segments.map((s) => Math.ceil(s.duration)));
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-PLAYLIST-TYPE:${ended ? "VOD" : "EVENT"}`,
    "#EXT-X-MEDIA-SEQUENCE:0",
  ];
  segments.forEach((s, i) => {
    if (s.discontinuity && i > 0) lines.push("#EXT-X-DISCONTINUITY");
    lines.push(`#EXTINF:${s.duration.toFixed(3)},`, s.uri);
  });
  if (ended) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

/** Seconds of media the playlist lists. */
export function recordedDuration(segments: readonly RecordedSegment[]): number {
  return segments.reduce((sum, s) => sum + s.duration, 0);
}
