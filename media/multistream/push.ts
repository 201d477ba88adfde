// One multistream target's push: an ffmpeg (-c copy -f flv) fed the rendition's TS segments on stdin, restarted with backoff.
import { EventEmitter } from "node:events";
import { spawnFfmpeg, type FfmpegProcess } from "../../core/ffmpeg.ts";
import { moduleLogger } from "../../core/log.ts";
import type { LiveSegment } from "../../core/live-segment.ts";
import type { StreamOutputs } from "../hub/outputs.ts";
import { redactTargetUrl, type MultistreamTarget } from "./targets.ts";

const log = moduleLogger("multistream");

/** What the API and events say of a target: the push is up, failing (and retried), or not running. */
export type PushState = "connected" | "error" | "disconnected";

export interface PushTiming {
  /** First retry delay after ffmpeg exits; doubles per failure up to backoffMaxMs. */
  backoffMinMs: number;
  backoffMaxMs: number;
}

export const DEFAULT_PUSH_TIMING: PushTiming = { backoffMinMs: 1000, backoffMaxMs: 30_000 };
/** A push that stayed connected this long starts its next backoff from the minimum again. */
const STABLE_CONNECTION_MS = 10_000;
/** A target that reads slower than real time: segments are skipped whole (never cut) while this much is queued. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** An RTMP server that accepts TCP but stops reading: ffmpeg gives up on a write after this long (µs for ffmpeg). */
const RW_TIMEOUT_US = 10_000_000;
const STOP_GRACE_MS = 2000;
const PROBE_US = 1_000_000;

export interface PushEvents {
  state: [PushState, string | null];
}

export class MultistreamPush extends EventEmitter<PushEvents> {
  state: PushState = "disconnected";
  lastError: string | null = null;
  connectedAt: number | null = null;
  /** ffmpeg runs started for this target. */
  attempts = 0;
  private proc: FfmpegProcess | undefined;
  private feeding: Promise<void> = Promise.resolve();
  private retryAt = 0;
  private backoffMs: number;
  private stopped = false;

  constructor(
    readonly target: MultistreamTarget,
    private readonly outputs: StreamOutputs,
    private readonly timing: PushTiming = DEFAULT_PUSH_TIMING,
  ) {
    super();
    this.backoffMs = timing.backoffMinMs;
    outputs.on("segment", this.onSegment);
  }

  get label(): string {
    return redactTargetUrl(this.target.url);
  }

  private readonly onSegment = (rendition: string, seg: LiveSegment): void => {
    if (rendition !== this.target.rendition || this.stopped || seg.aborted) return;
    // A new ffmpeg starts on a segment boundary: the segment opens with the program tables and a keyframe.
    if (!this.proc && Date.now() >= this.retryAt) this.spawn();
    const proc = this.proc;
    if (!proc) return;
    if (proc.stdin.writableLength > MAX_QUEUED_BYTES) return;
    seg.pin(); // read later, behind the segments before it: its bytes must stay
    this.feeding = this.feeding.then(async () => {
      try {
        for await (const chunk of seg.iterate()) {
          if (this.proc !== proc || !proc.running) return;
          proc.stdin.write(chunk);
        }
      } catch {
        // An aborted segment: what was written of it is a glitch the target's decoder recovers from at the next keyframe.
      }
    });
  };

  private spawn(): void {
    this.attempts++;
    const args = [
      "-hide_banner", "-loglevel", "info", "-nostats",
      // The segments are ours (H.264 + AAC, tables first): one second of probing finds both streams; the default 5 s delays the push.
      "-analyzeduration", String(PROBE_US), "-f", "mpegts", "-i", "pipe:0",
      "-map", "0:v?", "-map", "0:a?", "-c", "copy",
      "-rw_timeout", String(RW_TIMEOUT_US),
      "-f", "flv", this.target.url,
    ];
    let connected = false;
    const proc = spawnFfmpeg(args, {
      label: `multistream to ${this.label}`,
      // ffmpeg prints the output's description once the RTMP server accepted the publish and the header went out.
      onStderr: (text) => {
        if (!connected && text.includes("Output #0")) {
          connected = true;
          this.connectedAt = Date.now();
          this.lastError = null;
          this.setState("connected");
          log.info({ target: this.label }, "multistream connected");
        }
      },
    });
    this.proc = proc;
    void proc.exited.then(({ code, signal }) => {
      if (this.proc === proc) this.proc = undefined;
      if (this.stopped) return;
      const lastLine = proc.stderrTail().trim().split("\n").filter((l) => !/^\s|^(Input|Output|Stream mapping|Press|Conversion failed)/.test(l)).slice(-1)[0]?.trim();
      // ffmpeg names the URL in its errors: the stream key is hidden like everywhere else it is told.
      const reason = lastLine?.split(this.target.url).join(this.label).slice(0, 300);
      this.lastError = `ffmpeg ${code === null ? `killed by ${signal}` : `exited with code ${code}`}${reason ? `: ${reason}` : ""}`;
      if (connected && this.connectedAt !== null && Date.now() - this.connectedAt >= STABLE_CONNECTION_MS) this.backoffMs = this.timing.backoffMinMs;
      this.retryAt = Date.now() + this.backoffMs;
      log.warn({ target: this.label, err: this.lastError, retryInMs: this.backoffMs }, "multistream push failed");
      this.backoffMs = Math.min(this.timing.backoffMaxMs, this.backoffMs * 2);
      this.connectedAt = null;
      this.setState("error"); // retried at the first segment after the backoff
    });
  }

  private setState(state: PushState): void {
    const changed = state !== this.state || state === "error";
    this.state = state;
    if (changed) this.emit("state", state, this.lastError);
  }

  /** The stream ended or the target was removed: close ffmpeg's input so it flushes, then stop it. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.outputs.off("segment", this.onSegment);
    const proc = this.proc;
    this.proc = undefined;
    if (proc) {
      proc.stdin.end();
      const timer = setTimeout(() => void proc.stop(500), STOP_GRACE_MS);
      await proc.exited;
      clearTimeout(timer);
    }
    this.connectedAt = null;
    this.setState("disconnected");
  }

  view(): Record<string, unknown> {
    return {
      state: this.state,
      lastError: this.lastError,
      connectedAt: this.connectedAt ? new Date(this.connectedAt).toISOString() : null,
      attempts: this.attempts,
    };
  }
}
