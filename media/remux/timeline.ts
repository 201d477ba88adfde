// Per-stream RTMP timestamp continuity: unwraps 32-bit millisecond timestamps and bridges encoder restarts (big jumps).

export type TrackKind = "audio" | "video";

export interface TimelineOptions {
  /**
   * A timestamp more than this behind the track's previous one is an encoder restart, not jitter.
   * Default 100 ms: RTMP timestamps of one track never step back except by rounding.
   */
  maxBackwardJumpMs?: number;
  /** A timestamp this far ahead of the track's previous one is a restart too. Default 30000 ms. */
  maxForwardJumpMs?: number;
}

interface TrackState {
  lastIn: number;
  lastOut: number;
  /** The last small positive step: used to continue after a jump. */
  step: number;
}

const U32 = 2 ** 32;

/** Difference a - b of two 32-bit timestamps as a signed 32-bit number. */
export function delta32(a: number, b: number): number {
  const d = (((a - b) % U32) + U32) % U32;
  return d >= U32 / 2 ? d - U32 : d;
}

/**
 * Maps each track's raw timestamps onto one continuous millisecond timeline. Normal deltas (and the
 * 32-bit wrap) pass through unchanged; a jump beyond the limits continues the track one step after
 * its previous timestamp, and tracks that start later join the latest mapping.
 */
export class Timeline {
  private readonly tracks = new Map<TrackKind, TrackState>();
  /** The track mapped last: a track that starts later is placed relative to it. */
  private latest?: TrackState;
  private readonly maxBack: number;
  private readonly maxFwd: number;
  /** Count of jumps bridged (for logs and tests). */
  jumps = 0;

  constructor(opts: TimelineOptions = {}) {
    this.maxBack = opts.maxBackwardJumpMs ?? 100;
    this.maxFwd = opts.maxForwardJumpMs ?? 30000;
  }

  /** Continuous milliseconds (not wrapped) for a track's raw timestamp. */
  map(kind: TrackKind, ms: number): number {
    const t = this.tracks.get(kind);
    if (!t) {
      const ref = this.latest;
      const out = ref ? ref.lastOut + delta32(ms, ref.lastIn) : ms;
      this.latest = { lastIn: ms, lastOut: out, step: kind === "video" ? 33 : 21 };
      this.tracks.set(kind, this.latest);
      return out;
    }
    const d = delta32(ms, t.lastIn);
    let out: number;
    if (d < -this.maxBack || d > this.maxFwd) {
      out = t.lastOut + t.step;
      this.jumps++;
    } else {
      out = t.lastOut + d;
      if (d > 0 && d <= 200) t.step = d;
    }
    t.lastIn = ms;
    t.lastOut = out;
    this.latest = t;
    return out;
  }
}
