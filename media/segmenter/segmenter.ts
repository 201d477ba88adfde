// Any ffmpeg-readable input -> MPEG-TS on stdout -> keyframe-aligned segments as bytes arrive.
// Used by ingest adapters (RTMP feeds FLV on stdin, WHIP feeds RTP described by an SDP).
import { spawnFfmpeg, type FfmpegProcess } from "../../core/ffmpeg.ts";
import { maxSegmentDurationFor, TsSplitter } from "../../core/mpegts/splitter.ts";
import type { LiveSegment } from "../../core/live-segment.ts";

export interface SegmenterOptions {
  /** ffmpeg input arguments, e.g. ["-f", "flv", "-i", "pipe:0"]. */
  inputArgs: string[];
  /** Codec arguments; default copies audio and video. */
  codecArgs?: string[];
  targetDuration: number;
  label: string;
  onSegment(segment: LiveSegment): void;
  /** ffmpeg stopped on its own (input ended or failed). */
  onExit?(code: number | null, stderrTail: string): void;
}

export class Segmenter {
  readonly proc: FfmpegProcess;
  readonly splitter: TsSplitter;
  private stopping = false;

  constructor(opts: SegmenterOptions) {
    this.splitter = new TsSplitter({ targetDuration: opts.targetDuration, maxDuration: maxSegmentDurationFor(opts.targetDuration) });
    this.splitter.on("segment", opts.onSegment);
    this.proc = spawnFfmpeg(
      [
        "-hide_banner", "-nostdin", "-loglevel", "error",
        "-fflags", "+genpts+nobuffer", "-analyzeduration", "400000", "-probesize", "1000000",
        ...opts.inputArgs,
        "-map", "0:v:0?", "-map", "0:a:0?",
        ...(opts.codecArgs ?? ["-c", "copy"]),
        // Small audio PES packets: audio is never far from a keyframe, so a segment's first
        // bytes carry every stream (decoders downstream probe them quickly).
        "-f", "mpegts", "-pes_payload_size", "0", "-flush_packets", "1", "pipe:1",
      ],
      { label: opts.label },
    );
    // -nostdin only stops ffmpeg reading keyboard commands; pipe:0 input still works.
    this.proc.stdout.on("data", (chunk: Buffer) => this.splitter.write(chunk));
    void this.proc.exited.then(({ code }) => {
      if (code === 0 || this.stopping) this.splitter.end();
      else this.splitter.abort(`${opts.label} exited with ${code}`);
      if (!this.stopping) opts.onExit?.(code, this.proc.stderrTail());
    });
  }

  /** Feed input bytes (when the input is pipe:0). */
  write(chunk: Buffer): void {
    if (this.proc.running && !this.stopping && this.proc.stdin.writable) this.proc.stdin.write(chunk);
  }

  /** Input finished: let ffmpeg flush the last segment, then stop. */
  async finish(graceMs = 1500): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.proc.stdin.end();
    const timer = setTimeout(() => void this.proc.stop(300), graceMs);
    await this.proc.exited;
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.proc.stop(500);
  }
}
