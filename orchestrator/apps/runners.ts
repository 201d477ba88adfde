// The runners an orchestrator hosts (go-livepeer 0.9 Live Runner registry): registered from a
// JSON file in go-livepeer's `-liveRunnerConfig` schema, health-polled, and counted per slot.
// A runner is selectable while its last health check passed and it has a free slot.
import { readFileSync } from "node:fs";
import { PIXELS_PER_SECOND_720P30 } from "../../protocol/apps/live-runner.ts";
import type { Price } from "../feature.ts";

/** go-livepeer converts USD prices to wei at the orchestrator's ETH price; the dev orchestrator uses a fixed one. */
export const DEV_USD_PER_ETH = 3000;
export const WEI_PER_ETH = 10n ** 18n;
/** go-livepeer polls runner health about every 5 s. */
export const DEFAULT_RUNNER_HEALTH_INTERVAL_MS = 5000;
const HEALTH_TIMEOUT_MS = 2000;
const MAX_METADATA_BYTES = 1024;

export type RunnerMode = "persistent" | "single-shot";
/** Discovery's units: wei per second, per 720p-pixel-second, or once per request. */
export type RunnerUnit = "seconds" | "720p-pixel-seconds" | "fixed";

export interface RunnerSpec {
  id: string;
  label: string;
  runnerUrl: string;
  healthUrl: string;
  healthyStatusCode: number;
  app: string;
  version: string;
  /** go-livepeer: a string of at most 1024 bytes, public. */
  metadata: string;
  mode: RunnerMode;
  capacity: number;
  gpu?: { id?: string; name?: string; vram_mb?: number };
  /** Price in wei per `unit` (`Price.pixelsPerUnit` carries fractions). */
  price: Price;
  unit: RunnerUnit;
}

export class RunnerConfigError extends Error {}

const MILLI = 1000;

/** A go-livepeer price_info as wei per unit (USD through DEV_USD_PER_ETH; "hour" becomes per second). */
export function runnerPrice(p: unknown, where: string): { price: Price; unit: RunnerUnit } {
  if (p === undefined || p === null) return { price: { pricePerUnit: 0, pixelsPerUnit: 1 }, unit: "seconds" };
  const o = p as { price?: unknown; currency?: unknown; unit?: unknown };
  const amount = Number(o.price);
  if (!(amount >= 0)) throw new RunnerConfigError(`${where}.price_info.price: expected a number >= 0`);
  const currency = String(o.currency ?? "usd").toLowerCase();
  const unit = String(o.unit ?? "hour");
  // Wei per unit as a fraction of milli-wei (prices of a fraction of a wei per pixel-second exist);
  // the numerator stays a safe integer for prices up to thousands of USD per hour.
  const weiPerUnitMilli = currency === "wei" ? amount * MILLI : (amount / DEV_USD_PER_ETH) * 1e18 * MILLI;
  const per = (divisor: number): Price => {
    const num = Math.round(weiPerUnitMilli / divisor);
    return num === 0 ? { pricePerUnit: 0, pixelsPerUnit: 1 } : { pricePerUnit: num, pixelsPerUnit: MILLI };
  };
  switch (unit) {
    case "hour":
      return { price: per(3600), unit: "seconds" };
    case "seconds":
    case "second":
      return { price: per(1), unit: "seconds" };
    case "720p":
    case "720p-pixel-seconds":
      // "720p" is quoted per hour of 720p at 30 fps, as go-livepeer reads it: per pixel that is over
      // 3600 x 1280 x 720 x 30 (a session pays PIXELS_PER_SECOND_720P30 of them a second).
      return { price: per(unit === "720p" ? 3600 * PIXELS_PER_SECOND_720P30 : 1), unit: "720p-pixel-seconds" };
    case "fixed":
      return { price: per(1), unit: "fixed" };
    default:
      throw new RunnerConfigError(`${where}.price_info.unit: expected hour, 720p or fixed, got "${unit}"`);
  }
}

/** Parse `{runners: [...]}` (go-livepeer's -liveRunnerConfig). Throws RunnerConfigError. */
export function parseRunners(json: unknown): RunnerSpec[] {
  const list = (json as { runners?: unknown })?.runners;
  if (!Array.isArray(list)) throw new RunnerConfigError('expected {"runners": [...]}');
  const seen = new Set<string>();
  return list.map((r: Record<string, unknown>, i) => {
    const where = `runners[${i}]`;
    const str = (k: string, required = true): string => {
      const v = r[k];
      if (v === undefined && !required) return "";
      if (typeof v !== "string" || (required && v === "")) throw new RunnerConfigError(`${where}.${k}: expected a string`);
      return v;
    };
    const label = str("label");
    const runnerUrl = str("runner_url").replace(/\/+$/, "");
    // go-livepeer accepts "single_shot" for "single-shot".
    const mode = (r.mode === "single_shot" ? "single-shot" : (r.mode ?? "persistent")) as RunnerMode;
    if (mode !== "persistent" && mode !== "single-shot") throw new RunnerConfigError(`${where}.mode: expected persistent or single-shot`);
    // As go-livepeer: 0 (or none) is one.
    const capacity = Number(r.capacity ?? 0) || 1;
    if (!Number.isInteger(capacity) || capacity < 0) throw new RunnerConfigError(`${where}.capacity: expected an integer >= 0`);
    const metadata = str("metadata", false);
    if (Buffer.byteLength(metadata) > MAX_METADATA_BYTES) throw new RunnerConfigError(`${where}.metadata: over ${MAX_METADATA_BYTES} bytes`);
    // routing "label": the URL names the runner by its label; "runner-id" (default): by a generated id.
    const id = r.routing === "label" ? label : `${label}-${i}`;
    if (seen.has(id)) throw new RunnerConfigError(`${where}: runner "${id}" registered twice`);
    seen.add(id);
    const { price, unit } = runnerPrice(r.price_info, where);
    return {
      id,
      label,
      runnerUrl,
      // A health_url beginning with "/" is resolved against runner_url, as go-livepeer does.
      healthUrl: healthUrlOf(runnerUrl, str("health_url", false)),
      healthyStatusCode: r.healthy_status_code === undefined ? 200 : Number(r.healthy_status_code),
      app: str("app"),
      version: str("version", false),
      metadata,
      mode,
      capacity,
      gpu: r.gpu as RunnerSpec["gpu"],
      price,
      unit,
    };
  });
}

function healthUrlOf(runnerUrl: string, healthUrl: string): string {
  if (!healthUrl) return `${runnerUrl}/health`;
  return healthUrl.startsWith("/") && !healthUrl.startsWith("//") ? `${runnerUrl}${healthUrl}` : healthUrl;
}

export function readRunnersFile(path: string): RunnerSpec[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new RunnerConfigError(`--runners ${path}: ${(err as Error).message}`);
  }
  try {
    return parseRunners(json);
  } catch (err) {
    throw new RunnerConfigError(`--runners ${path}: ${(err as Error).message}`);
  }
}

export interface Runner extends RunnerSpec {
  healthy: boolean;
  lastHealthError: string | null;
  used: number;
}

export class RunnerTable {
  readonly runners = new Map<string, Runner>();
  private timer: NodeJS.Timeout | undefined;

  constructor(specs: RunnerSpec[]) {
    for (const s of specs) this.add(s);
  }

  add(spec: RunnerSpec): Runner {
    const r: Runner = { ...spec, healthy: false, lastHealthError: "not checked yet", used: this.runners.get(spec.id)?.used ?? 0 };
    this.runners.set(spec.id, r);
    return r;
  }

  get(id: string): Runner | undefined {
    return this.runners.get(id);
  }

  /** Take a slot; false when the runner is unhealthy or full. */
  acquire(r: Runner): boolean {
    if (!r.healthy || r.used >= r.capacity) return false;
    r.used++;
    return true;
  }

  release(r: Runner): void {
    r.used = Math.max(0, r.used - 1);
  }

  /** Called when a runner that was healthy fails its health check (its sessions are lost). */
  onUnhealthy?: (r: Runner) => void;

  async checkAll(): Promise<void> {
    await Promise.all(
      [...this.runners.values()].map(async (r) => {
        const was = r.healthy;
        try {
          const res = await fetch(r.healthUrl, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
          await res.arrayBuffer();
          r.healthy = res.status === r.healthyStatusCode;
          r.lastHealthError = r.healthy ? null : `health answered ${res.status}`;
        } catch (err) {
          r.healthy = false;
          r.lastHealthError = (err as Error).message;
        }
        if (was && !r.healthy) this.onUnhealthy?.(r);
      }),
    );
  }

  /** First check now, then every intervalMs. */
  async start(intervalMs: number): Promise<void> {
    await this.checkAll();
    this.timer = setInterval(() => void this.checkAll(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
