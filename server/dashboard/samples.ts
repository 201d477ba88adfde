// The dashboard's sampler: once a second it reads the live streams, the orchestrators, the
// batch AI answers and orchestrator calls of that second and today's money into a rolling
// window of one-second points (series-window.ts), and hands one compact frame (the new
// points, and the table rows that changed) to every live subscriber.
import { moduleLogger } from "../../core/log.ts";
import { capabilityToPipeline } from "../../protocol/capabilities.ts";
import type { CallReport, OrchestratorSnapshot } from "../orchestrators/registry.ts";
import { SeriesWindow, type SeriesSnapshot } from "./series-window.ts";
import type { SpendToday } from "./spend-today.ts";
import { RecentLatencies, SecondTally, type Percentiles } from "./tallies.ts";

const log = moduleLogger("dashboard");

/** One hour of one-second points. */
export const DASHBOARD_WINDOW_SEC = 3600;
/** Series kept at most (each is DASHBOARD_WINDOW_SEC float32s, 14 KB). */
export const DASHBOARD_MAX_SERIES = 512;
/** Orchestrators with their own series at most (the table lists them all). */
const MAX_ORCHESTRATOR_SERIES = 32;
/** Keys with their own spend series at most; the rest are summed as "other". */
const MAX_KEY_SERIES = 10;

/** A live stream as the dashboard shows it (what the gateway's sources read each second). */
export interface StreamSample {
  id: string;
  name: string;
  pipeline: string;
  protocol: string;
  ownerKeyId: string | null;
  /** When the publisher's session started (ms). */
  startedAt: number;
  bitrateBps: number;
  fps: number | null;
  /** e.g. "h264 640x360". */
  video: string | null;
  viewers: { hls: number; webrtc: number };
  /** The orchestrator serving it now (live AI: pinned; transcode: the last segment's). */
  orchestrator: string | null;
  standby: string | null;
  swaps: number;
  /** The processor's state (live AI: starting, running, swapping...). */
  state: string | null;
}

export type StreamRow = Omit<StreamSample, "bitrateBps" | "fps">;

export interface OrchestratorRow extends Omit<OrchestratorSnapshot, "capabilities" | "capabilitiesPrices"> {
  /** `label`: the AI pipeline's name (text-to-image) where the capability is one, else the capability's. */
  capabilities: Array<OrchestratorSnapshot["capabilities"][number] & { label: string }>;
  capabilitiesPrices: Array<OrchestratorSnapshot["capabilitiesPrices"][number] & { label: string }>;
  /** p50/p95 of its last calls (ms), null before any. */
  recent: Percentiles | null;
  /** Live streams it serves (active) or stands by for. */
  streams: Array<{ id: string; role: "active" | "standby" }>;
}

export interface SamplerInputs {
  streams(): StreamSample[];
  orchestrators(): OrchestratorSnapshot[];
  spend: SpendToday;
  currency: string;
}

/** One second for live subscribers: new values and changed rows only. */
export interface LiveFrame {
  t: number;
  /** The series' keys, when they changed since the previous frame (else the last ones sent). */
  k?: string[];
  /** This second's value of every series, in key order. */
  v: Array<number | null>;
  streams?: { upsert: StreamRow[]; remove: string[] };
  orchestrators?: { upsert: OrchestratorRow[]; remove: string[] };
}

/** What a subscriber gets first: the window's history and every row. */
export interface Hello {
  hello: true;
  currency: string;
  window: SeriesSnapshot;
  k: string[];
  streams: StreamRow[];
  orchestrators: OrchestratorRow[];
}

/** Per-stream series (fetched for one stream at a time, not part of the hello). */
export const isStreamSeries = (key: string) => key.startsWith("stream.");

export class DashboardSampler {
  /** Replaced only by fillSyntheticHistory (bench). */
  window: SeriesWindow;
  private readonly ai = new SecondTally();
  private readonly calls = new SecondTally();
  private readonly recent = new Map<string, RecentLatencies>();
  private keys: string[] = [];
  private keysText = "";
  private readonly streamRows = new Map<string, { row: StreamRow; json: string }>();
  private readonly orchRows = new Map<string, { row: OrchestratorRow; json: string }>();
  private readonly listeners = new Set<(f: LiveFrame) => void>();
  private timer: NodeJS.Timeout | undefined;
  /** The kept rows are not the current ones: not built yet, or ticks ran without a subscriber to build them for. */
  private rowsStale = true;
  private synthetic: (() => StreamSample[]) | undefined;

  constructor(
    private readonly inputs: SamplerInputs,
    opts: { windowSec?: number; maxSeries?: number } = {},
  ) {
    this.window = new SeriesWindow(opts.windowSec ?? DASHBOARD_WINDOW_SEC, opts.maxSeries ?? DASHBOARD_MAX_SERIES);
  }

  /** A batch AI answer (server/ai/routes.ts observer). */
  observeAi(pipeline: string, status: number, durationMs: number): void {
    this.ai.count(`${Math.floor(status / 100)}xx`);
    this.ai.latency(pipeline, durationMs);
  }

  /** A report the orchestrator registry took. */
  observeCall(r: CallReport): void {
    if (r.result === "ok") {
      this.calls.latency(r.address, r.latencyMs);
      let l = this.recent.get(r.address);
      if (!l) {
        if (this.recent.size >= 1000) this.recent.delete(this.recent.keys().next().value!);
        this.recent.set(r.address, (l = new RecentLatencies()));
      }
      l.add(r.latencyMs);
    } else if (r.result === "failed") {
      this.calls.count(r.address);
    }
  }

  /**
   * BENCH AND TEST ONLY: extra streams reported with the real ones, for measuring the page
   * with many streams without publishing them (bench/dashboard-render.ts). Never set in production.
   */
  injectSyntheticStreams(fn: (() => StreamSample[]) | undefined): void {
    this.synthetic = fn;
  }

  /**
   * BENCH ONLY: starts the window over with `seconds` of points sampled now (the synthetic
   * streams included), dated up to the last second, so a page opens on a full hour of history.
   */
  fillSyntheticHistory(seconds: number, now = Date.now()): void {
    const running = this.timer !== undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.window = new SeriesWindow(this.window.capacity, this.window.maxSeries);
    this.keysText = "";
    for (let i = seconds; i >= 1; i--) this.tick(now - i * 1000);
    if (running) this.start();
  }

  start(): void {
    if (this.timer) return;
    const schedule = () => {
      // Just after each second boundary, so that one tick is one second of the axis. It runs
      // while idle too (one wake-up a second): a dashboard opened later shows the window's
      // history, which only exists if every second was sampled.
      this.timer = setTimeout(() => {
        try {
          this.tick(Date.now());
        } catch (err) {
          log.error({ err: (err as Error).message }, "dashboard sample failed");
        }
        schedule();
      }, 1000 - (Date.now() % 1000) + 5);
      this.timer.unref();
    };
    schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  subscribe(fn: (f: LiveFrame) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  hello(windowSec: number): Hello {
    if (this.rowsStale) {
      // As a tick's failure: logged, and the rows kept are sent (a subscriber's stream still opens).
      try {
        this.diffAllRows(this.liveStreams(), this.inputs.orchestrators());
      } catch (err) {
        log.error({ err: (err as Error).message }, "dashboard rows failed");
      }
    }
    return {
      hello: true,
      currency: this.inputs.currency,
      window: this.window.read(windowSec, (k) => !isStreamSeries(k)),
      k: this.keys,
      streams: [...this.streamRows.values()].map((r) => r.row),
      orchestrators: [...this.orchRows.values()].map((r) => r.row),
    };
  }

  /** One sample at `now` (ms): called by the timer; tests call it directly. */
  tick(now: number): LiveFrame | undefined {
    const t = Math.floor(now / 1000);
    const values = new Map<string, number>();
    const streams = this.liveStreams();

    // Streams and viewers.
    let hls = 0;
    let webrtc = 0;
    let bps = 0;
    for (const s of streams) {
      hls += s.viewers.hls;
      webrtc += s.viewers.webrtc;
      bps += s.bitrateBps;
      values.set(`stream.bps.${s.id}`, s.bitrateBps);
      if (s.fps !== null) values.set(`stream.fps.${s.id}`, s.fps);
    }
    values.set("streams.live", streams.length);
    values.set("viewers.hls", hls);
    values.set("viewers.webrtc", webrtc);
    values.set("ingest.bps", bps);

    // Batch AI: answers by status class, latency by pipeline, the share of 5xx.
    const ai = this.ai.drain();
    let answers = 0;
    for (const cls of ["2xx", "4xx", "5xx"]) {
      const n = ai.counts.get(cls) ?? 0;
      answers += n;
      values.set(`ai.rps.${cls}`, n);
    }
    values.set("ai.error_ratio", answers ? (ai.counts.get("5xx") ?? 0) / answers : NaN);
    for (const [pipeline, p] of ai.latencies) {
      values.set(`ai.p50.${pipeline}`, p.p50);
      values.set(`ai.p95.${pipeline}`, p.p95);
    }

    // Orchestrators: counts by state, and per orchestrator this second's p95 and failures.
    const snapshot = this.inputs.orchestrators();
    const calls = this.calls.drain();
    let suspended = 0;
    let ok = 0;
    snapshot.forEach((o, i) => {
      if (o.suspendedUntil) suspended++;
      else if (o.reachable) ok++;
      if (i >= MAX_ORCHESTRATOR_SERIES) return;
      const p = calls.latencies.get(o.address);
      values.set(`orch.p95.${o.address}`, p ? p.p95 : NaN);
      values.set(`orch.failures.${o.address}`, calls.counts.get(o.address) ?? 0);
    });
    values.set("orchestrators.ok", ok);
    values.set("orchestrators.suspended", suspended);

    // Money today (currency units).
    const spend = this.inputs.spend;
    spend.maybeResync().catch((err: Error) => log.warn({ err: err.message }, "reading today's usage failed"));
    const total = spend.total();
    values.set("money.charge", total.chargeMicros / 1e6);
    values.set("money.cost", total.costMicros / 1e6);
    values.set("money.margin", (total.chargeMicros - total.costMicros) / 1e6);
    for (const [p, m] of spend.pipelines()) {
      values.set(`money.charge.pipeline.${p}`, m.chargeMicros / 1e6);
      values.set(`money.margin.pipeline.${p}`, (m.chargeMicros - m.costMicros) / 1e6);
    }
    const keys = [...spend.keys()].sort((a, b) => b[1].chargeMicros - a[1].chargeMicros);
    let other = 0;
    keys.forEach(([k, m], i) => {
      if (i < MAX_KEY_SERIES) values.set(`money.charge.key.${k}`, m.chargeMicros / 1e6);
      else other += m.chargeMicros;
    });
    if (keys.length > MAX_KEY_SERIES) values.set("money.charge.key.other", other / 1e6);

    if (!this.window.append(t, values)) return undefined;

    const frame: LiveFrame = { t, v: [] };
    const keysNow = this.window.keys();
    const keysText = keysNow.join("\n");
    if (keysText !== this.keysText) {
      this.keys = keysNow;
      this.keysText = keysText;
      frame.k = keysNow;
    }
    frame.v = this.keys.map((k) => this.window.latest(k));
    // The rows are for subscribers only: with none, they wait for the next hello. Building an
    // orchestrator's row (its capabilities labelled, serialized to be compared) was most of a
    // tick, a stall of the event loop once a second on a busy gateway that nobody watched.
    if (this.listeners.size === 0) {
      this.rowsStale = true;
      return frame;
    }
    const changes = this.diffAllRows(streams, snapshot);
    if (changes.streams) frame.streams = changes.streams;
    if (changes.orchestrators) frame.orchestrators = changes.orchestrators;
    for (const fn of this.listeners) {
      try {
        fn(frame);
      } catch (err) {
        log.warn({ err: (err as Error).message }, "dashboard subscriber failed");
      }
    }
    return frame;
  }

  /** The live streams, the bench's synthetic ones included. */
  private liveStreams(): StreamSample[] {
    const streams = this.inputs.streams();
    if (this.synthetic) streams.push(...this.synthetic());
    return streams;
  }

  /** The rows that changed since the last call (the kept rows are then the current ones). */
  private diffAllRows(streams: StreamSample[], snapshot: OrchestratorSnapshot[]): Pick<LiveFrame, "streams" | "orchestrators"> {
    const changes = {
      streams: diffRows(this.streamRows, streams.map(streamRow), (r) => r.id),
      orchestrators: diffRows(this.orchRows, snapshot.map((o) => this.orchestratorRow(o, streams)), (r) => r.address),
    };
    this.rowsStale = false;
    return changes;
  }

  private orchestratorRow(o: OrchestratorSnapshot, streams: StreamSample[]): OrchestratorRow {
    const served: OrchestratorRow["streams"] = [];
    for (const s of streams) {
      if (s.orchestrator === o.address) served.push({ id: s.id, role: "active" });
      else if (s.standby === o.address) served.push({ id: s.id, role: "standby" });
    }
    const label = (id: number, name?: string) => capabilityToPipeline(id) ?? name ?? `capability ${id}`;
    const capabilities = o.capabilities.map((c) => ({ ...c, label: label(c.id, c.name) }));
    const labels = new Map<number, string>();
    for (const c of capabilities) if (!labels.has(c.id)) labels.set(c.id, c.label);
    return {
      ...o,
      capabilities,
      capabilitiesPrices: o.capabilitiesPrices.map((p) => ({ ...p, label: labels.get(p.capability) ?? label(p.capability) })),
      recent: this.recent.get(o.address)?.percentiles() ?? null,
      streams: served,
    };
  }
}

function streamRow(s: StreamSample): StreamRow {
  const { bitrateBps: _b, fps: _f, ...row } = s;
  return row;
}

/** Rows that changed or appeared, and ids that left, since the last call (undefined: none). */
function diffRows<R>(kept: Map<string, { row: R; json: string }>, rows: R[], id: (r: R) => string): { upsert: R[]; remove: string[] } | undefined {
  const upsert: R[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    const k = id(row);
    seen.add(k);
    const json = JSON.stringify(row);
    if (kept.get(k)?.json === json) continue;
    kept.set(k, { row, json });
    upsert.push(row);
  }
  const remove: string[] = [];
  for (const k of kept.keys()) {
    if (seen.has(k)) continue;
    kept.delete(k);
    remove.push(k);
  }
  return upsert.length || remove.length ? { upsert, remove } : undefined;
}
