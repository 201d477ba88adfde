// Counts video frames (PES starts on the video PID) in an MPEG-TS byte stream as it flows,
// and measures frame rates over a sliding wall-clock window. Used on both sides of the live
// AI path: the gateway (input/output fps, metered output pixels) and the dev orchestrator
// (frames in/out in its status events).
import { readPesPts } from "../segmenter/ts-splitter.ts";

const TS = 188;
const VIDEO_STREAM_TYPES = new Set([0x1b, 0x24, 0x01, 0x02]);

export class TsFrameCounter {
  /** Video frames seen so far. */
  frames = 0;
  /** Presentation time (s) of the latest video frame, when known. */
  lastPts: number | undefined;
  private remainder: Buffer = Buffer.alloc(0);
  private pmtPid = -1;
  private videoPid = -1;
  private readonly stamps: number[] = [];

  constructor(
    private readonly windowMs = 3000,
    private readonly onFrame?: (ptsSec: number | undefined) => void,
  ) {}

  write(chunk: Buffer): void {
    const buf = this.remainder.length ? Buffer.concat([this.remainder, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= TS) {
      if (buf[off] !== 0x47) {
        off++;
        continue;
      }
      this.packet(buf.subarray(off, off + TS));
      off += TS;
    }
    this.remainder = off < buf.length ? Buffer.from(buf.subarray(off)) : Buffer.alloc(0);
  }

  /** Forget the partial packet (a new, unrelated byte stream follows). */
  reset(): void {
    this.remainder = Buffer.alloc(0);
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

  private packet(pkt: Buffer): void {
    const pid = ((pkt[1]! & 0x1f) << 8) | pkt[2]!;
    const pusi = (pkt[1]! & 0x40) !== 0;
    if (!pusi) return;
    const afc = (pkt[3]! >> 4) & 0x03;
    if (afc !== 1 && afc !== 3) return;
    const start = afc === 3 ? 5 + pkt[4]! : 4;
    if (start >= TS) return;
    const payload = pkt.subarray(start);
    if (pid === 0) {
      const sec = payload.subarray(1 + (payload[0] ?? 0));
      if (sec.length >= 12 && sec[0] === 0x00) {
        for (let i = 8; i + 4 <= sec.length - 4; i += 4) {
          const program = (sec[i]! << 8) | sec[i + 1]!;
          if (program !== 0) {
            this.pmtPid = ((sec[i + 2]! & 0x1f) << 8) | sec[i + 3]!;
            break;
          }
        }
      }
      return;
    }
    if (pid === this.pmtPid) {
      const sec = payload.subarray(1 + (payload[0] ?? 0));
      if (sec.length < 12 || sec[0] !== 0x02) return;
      const sectionLength = ((sec[1]! & 0x0f) << 8) | sec[2]!;
      const end = Math.min(3 + sectionLength - 4, sec.length);
      let i = 12 + (((sec[10]! & 0x0f) << 8) | sec[11]!);
      while (i + 5 <= end) {
        const type = sec[i]!;
        const esPid = ((sec[i + 1]! & 0x1f) << 8) | sec[i + 2]!;
        if (VIDEO_STREAM_TYPES.has(type)) {
          this.videoPid = esPid;
          return;
        }
        i += 5 + (((sec[i + 3]! & 0x0f) << 8) | sec[i + 4]!);
      }
      return;
    }
    if (pid === this.videoPid) {
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
