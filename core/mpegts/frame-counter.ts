// Counts video frames (PES starts on the video PID) in an MPEG-TS byte stream as it flows,
// and measures frame rates over a sliding wall-clock window. Used on both sides of the live
// AI path: the gateway (input/output fps, metered output pixels) and the dev orchestrator
// (frames in/out in its status events).
import { readPesPts, TsPacketReader, TsProgramMap, type TsPacket } from "./packets.ts";

export class TsFrameCounter {
  /** Video frames seen so far. */
  frames = 0;
  /** Presentation time (s) of the latest video frame, when known. */
  lastPts: number | undefined;
  private readonly reader = new TsPacketReader();
  private readonly map = new TsProgramMap();
  private readonly stamps: number[] = [];

  constructor(
    private readonly windowMs = 3000,
    private readonly onFrame?: (ptsSec: number | undefined) => void,
  ) {}

  write(chunk: Buffer): void {
    this.reader.push(chunk, (p) => this.packet(p));
  }

  /** Forget the partial packet (a new, unrelated byte stream follows). */
  reset(): void {
    this.reader.reset();
  }

  /** Frames per second over the last `windowMs`. */
  fps(now = Date.now()): number {
    this.trim(now);
    if (this.stamps.length < 2) return 0;
    const span = Math.max(500, now - this.stamps[0]!);
    return Math.round((this.stamps.length * 1000 * 10) / span) / 10;
  }

  private trim(now: number): void {
    while (this.stamps.length && this.stamps[0]! < now - this.windowMs) this.stamps.shift();
  }

  private packet(p: TsPacket): void {
    if (this.map.observe(p) || !p.pusi || p.payload.length === 0) return;
    const { pid, payload } = p;
    if (pid === this.map.videoPid) {
      const raw = readPesPts(payload);
      const pts = raw === undefined ? undefined : raw / 90000;
      this.frames++;
      this.lastPts = pts;
      const now = Date.now();
      this.stamps.push(now);
      if (this.stamps.length > 600) this.trim(now);
      this.onFrame?.(pts);
    }
  }
}
