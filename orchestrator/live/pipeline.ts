// One live-video-to-video session on the development orchestrator: input segments arrive on the
// `{mid}` trickle channel (in-process subscription), one long-running ffmpeg per effect reads
// them concatenated on stdin and writes MPEG-TS on stdout, a TsSplitter cuts that into
// keyframe-aligned segments which are published on `{mid}-out` as they are produced. Control
// messages on `{mid}-control` switch the effect (a new ffmpeg takes over at the next input
// segment boundary); status events go to `{mid}-events` every few seconds.
import { once } from "node:events";
import { spawnFfmpeg, type FfmpegProcess } from "../../core/ffmpeg.ts";
import type { LiveSegment } from "../../core/live-segment.ts";
import { TsFrameCounter } from "../../core/mpegts/frame-counter.ts";
import { TsSplitter } from "../../core/mpegts/splitter.ts";
import type { TrickleServer } from "../../protocol/trickle/index.ts";
import type { Logger } from "../../core/log.ts";
import { EFFECTS, effectFromParams, isKeepalive, type Effect } from "./effects.ts";

/** Test knobs shared by every session of the feature. */
export interface LiveFaults {
  /** Keep consuming input but publish no output. */
  stallOutput: boolean;
  /** Publish no status events. */
  stallEvents: boolean;
}

export interface LivePipelineOptions {
  trickle: TrickleServer;
  mid: string;
  modelId: string;
  params: Record<string, unknown>;
  requestId: string;
  streamId: string;
  eventsIntervalMs: number;
  x264Preset: string;
  faults: LiveFaults;
  log: Logger;
  /** Called once per input segment (fault knobs like crash-after-segments). */
  onInputSegment?: (total: number) => void;
  /** Called once when the session has fully ended. */
  onEnd?: () => void;
}

/** One ffmpeg applying one effect, with its output cut into segments. */
class Encoder {
  readonly proc: FfmpegProcess;
  private readonly queue: LiveSegment[] = [];
  private waiter: (() => void) | undefined;
  finished = false;

  constructor(
    readonly effect: Effect,
    preset: string,
    label: string,
  ) {
    const filter = EFFECTS[effect];
    const video = filter === undefined
      ? ["-c:v", "copy"]
      : ["-vf", filter, "-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-force_key_frames", "source"];
    this.proc = spawnFfmpeg(
      [
        "-hide_banner", "-loglevel", "error",
        // No +nobuffer: it drops the packets read while probing, so output would wait for the next keyframe.
        // Probe enough to see an audio packet after the first keyframe: with too little, ffmpeg
        // fails ("sample rate not set") and output waits for a respawn at a later segment.
        "-probesize", "262144", "-analyzeduration", "200000",
        "-f", "mpegts", "-i", "pipe:0",
        "-map", "0:v:0", "-map", "0:a:0?",
        ...video,
        "-c:a", "copy",
        "-copyts", "-muxdelay", "0", "-muxpreload", "0",
        "-f", "mpegts", "-flush_packets", "1", "pipe:1",
      ],
      { label },
    );
    // A tiny target: every keyframe (i.e. every source GOP) starts a new output segment.
    const splitter = new TsSplitter({ targetDuration: 0.1 });
    splitter.on("segment", (seg) => {
      this.queue.push(seg);
      this.wake();
    });
    this.proc.stdout.on("data", (chunk: Buffer) => splitter.write(chunk));
    void this.proc.exited.then(() => {
      splitter.end();
      this.finished = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next output segment; null once ffmpeg exited and everything was handed out. */
  async nextSegment(): Promise<LiveSegment | null> {
    for (;;) {
      const seg = this.queue.shift();
      if (seg) return seg;
      if (this.finished) return null;
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  /** Writes input bytes with backpressure; false when ffmpeg is gone. */
  async write(chunk: Buffer): Promise<boolean> {
    if (!this.proc.running || !this.proc.stdin.writable) return false;
    if (!this.proc.stdin.write(chunk)) {
      await Promise.race([once(this.proc.stdin, "drain").catch(() => undefined), this.proc.exited]);
    }
    return this.proc.running;
  }

  /** Input done: let ffmpeg flush and exit (killed after graceMs). */
  async finish(graceMs = 2000): Promise<void> {
    this.proc.stdin.end();
    const t = setTimeout(() => void this.proc.stop(300), graceMs);
    await this.proc.exited;
    clearTimeout(t);
  }
}

export interface LivePipelineStatus {
  type: "status";
  manifest_id: string;
  request_id: string;
  stream_id: string;
  model_id: string;
  params: Record<string, unknown>;
  effect: Effect;
  frames_in: number;
  frames_out: number;
  input_fps: number;
  output_fps: number;
  segments_in: number;
  segments_out: number;
  restarts: number;
  started_at: number;
  last_input_at: number | null;
  last_output_at: number | null;
  timestamp: number;
}

export class LivePipeline {
  private readonly o: LivePipelineOptions;
  private params: Record<string, unknown>;
  private effect: Effect;
  /** Effect asked for by the latest control message, applied at the next input segment. */
  private wanted: Effect;
  private encoder: Encoder;
  /** A pre-spawned encoder for `wanted` (saves the ffmpeg start-up at the switch). */
  private next: Encoder | undefined;
  private readonly encoders: Encoder[] = [];
  private encoderWaiter: (() => void) | undefined;
  private inputDone = false;
  private ended = false;
  private readonly inCounter = new TsFrameCounter();
  private readonly outCounter = new TsFrameCounter();
  private segmentsIn = 0;
  private segmentsOut = 0;
  private restarts = 0;
  private lastInputAt: number | undefined;
  private lastOutputAt: number | undefined;
  private readonly startedAt = Date.now();
  private eventsTimer: NodeJS.Timeout | undefined;
  private readonly closers: Array<() => void> = [];
  readonly done: Promise<void>;

  constructor(opts: LivePipelineOptions) {
    this.o = opts;
    this.params = opts.params;
    this.effect = effectFromParams(opts.params) ?? (Object.hasOwn(EFFECTS, opts.modelId) ? (opts.modelId as Effect) : "noop");
    this.wanted = this.effect;
    // Spawned now, waiting on stdin: the first input bytes meet a running ffmpeg.
    this.encoder = this.spawn(this.effect);
    this.pushEncoder(this.encoder);
    this.done = this.run();
  }

  get manifestId(): string {
    return this.o.mid;
  }

  private spawn(effect: Effect): Encoder {
    return new Encoder(effect, this.o.x264Preset, `live ${this.o.mid} ${effect}`);
  }

  private pushEncoder(e: Encoder): void {
    this.encoders.push(e);
    const w = this.encoderWaiter;
    this.encoderWaiter = undefined;
    w?.();
  }

  status(): LivePipelineStatus {
    return {
      type: "status",
      manifest_id: this.o.mid,
      request_id: this.o.requestId,
      stream_id: this.o.streamId,
      model_id: this.o.modelId,
      params: this.params,
      effect: this.effect,
      frames_in: this.inCounter.frames,
      frames_out: this.outCounter.frames,
      input_fps: this.inCounter.fps(),
      output_fps: this.outCounter.fps(),
      segments_in: this.segmentsIn,
      segments_out: this.segmentsOut,
      restarts: this.restarts,
      started_at: this.startedAt,
      last_input_at: this.lastInputAt ?? null,
      last_output_at: this.lastOutputAt ?? null,
      timestamp: Date.now(),
    };
  }

  private async run(): Promise<void> {
    const { trickle, mid, log } = this.o;
    this.eventsTimer = setInterval(() => this.publishEvent(this.status()), this.o.eventsIntervalMs);
    this.eventsTimer.unref();
    this.publishEvent(this.status());
    const output = this.outputLoop().catch((err: Error) => log.warn({ mid, err: err.message }, "live output loop failed"));
    void this.controlLoop().catch((err: Error) => log.warn({ mid, err: err.message }, "live control loop failed"));
    try {
      await this.inputLoop();
    } catch (err) {
      log.warn({ mid, err: (err as Error).message }, "live input loop failed");
    }
    // Input over (gateway closed the channel, or it was swept): flush and tear down.
    this.inputDone = true;
    this.next?.proc.stdin.end();
    void this.next?.proc.stop(200);
    await this.encoder.finish();
    this.pushEncoder(this.encoder); // wakes the output loop if it waits for a newer encoder
    await Promise.race([output, new Promise((r) => setTimeout(r, 2000))]);
    this.close();
  }

  private async inputLoop(): Promise<void> {
    const sub = this.o.trickle.subscribe(this.o.mid, { start: -1 });
    this.closers.push(() => sub.close());
    for await (const seg of sub) {
      this.segmentsIn++;
      this.o.onInputSegment?.(this.segmentsIn);
      if (this.wanted !== this.effect || !this.encoder.proc.running) {
        // Switch at the segment boundary (the new ffmpeg starts at a keyframe).
        const old = this.encoder;
        const fresh = this.next && this.next.effect === this.wanted && this.next.proc.running ? this.next : this.spawn(this.wanted);
        if (this.next && this.next !== fresh) void this.next.proc.stop(200);
        this.next = undefined;
        this.encoder = fresh;
        this.effect = fresh.effect;
        this.restarts++;
        void old.finish(1500);
        this.pushEncoder(fresh);
        this.o.log.debug({ mid: this.o.mid, effect: this.effect }, "live effect switched");
      }
      for await (const chunk of seg.reader) {
        this.lastInputAt = Date.now();
        this.inCounter.write(chunk);
        if (!(await this.encoder.write(chunk))) break;
      }
    }
  }

  private async nextEncoder(index: number): Promise<Encoder | undefined> {
    for (;;) {
      if (index < this.encoders.length) return this.encoders[index];
      if (this.inputDone || this.ended) return undefined;
      await new Promise<void>((r) => (this.encoderWaiter = r));
    }
  }

  private async outputLoop(): Promise<void> {
    const out = this.o.trickle.localPublisher(`${this.o.mid}-out`);
    const seen = new Set<Encoder>();
    for (let i = 0; ; i++) {
      const enc = await this.nextEncoder(i);
      if (!enc || this.ended) return;
      if (seen.has(enc)) continue; // pushed again only to wake us up
      seen.add(enc);
      for (;;) {
        const seg = await enc.nextSegment();
        if (!seg || this.ended) break;
        if (this.o.faults.stallOutput) {
          await seg.bytes().catch(() => undefined);
          continue;
        }
        let w;
        try {
          w = out.next();
        } catch {
          return; // channel removed
        }
        try {
          for await (const chunk of seg.iterate()) {
            w.write(chunk);
            this.outCounter.write(chunk);
            this.lastOutputAt = Date.now();
          }
        } catch {
          /* aborted segment: end what we have */
        }
        w.end();
        this.segmentsOut++;
      }
    }
  }

  private async controlLoop(): Promise<void> {
    const sub = this.o.trickle.subscribe(`${this.o.mid}-control`, { start: -1 });
    this.closers.push(() => sub.close());
    for await (const seg of sub) {
      let msg: unknown;
      try {
        msg = await seg.json();
      } catch {
        continue;
      }
      if (isKeepalive(msg) || typeof msg !== "object" || msg === null || Array.isArray(msg)) continue;
      const params = msg as Record<string, unknown>;
      this.params = params;
      const effect = effectFromParams(params);
      if (effect && effect !== this.wanted) {
        this.wanted = effect;
        if (effect !== this.effect) {
          if (this.next) void this.next.proc.stop(200);
          this.next = this.spawn(effect);
        } else if (this.next) {
          void this.next.proc.stop(200);
          this.next = undefined;
        }
      }
      this.o.log.debug({ mid: this.o.mid, params }, "live params updated");
      this.publishEvent({ ...this.status(), type: "params_update" });
    }
  }

  private publishEvent(ev: object): void {
    if (this.ended || this.o.faults.stallEvents) return;
    try {
      if (this.o.trickle.hasChannel(`${this.o.mid}-events`)) this.o.trickle.localPublisher(`${this.o.mid}-events`).writeJson(ev);
    } catch {
      /* channel gone */
    }
  }

  /** Ends the session: stops ffmpeg, closes every channel (subscribers see end of stream). */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.eventsTimer) clearInterval(this.eventsTimer);
    for (const c of this.closers) c();
    for (const e of [this.encoder, this.next]) if (e?.proc.running) void e.proc.stop(300);
    const w = this.encoderWaiter;
    this.encoderWaiter = undefined;
    w?.();
    for (const suffix of ["", "-out", "-control", "-events"]) this.o.trickle.deleteChannel(`${this.o.mid}${suffix}`);
    this.o.onEnd?.();
  }
}
