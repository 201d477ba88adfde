// CLI flags of the live-video-to-video feature for orchestrator/main.ts (main.ts only forwards them).
import { createLiveFeature, type LiveFeature } from "./feature.ts";

export const LIVE_USAGE = `  --no-live              do not serve live-video-to-video
  --live-capacity N      concurrent live sessions per model (default 2)
  --live-events-ms N     status event period on the -events channel (default 2000)
  --live-stall-output    start with output stalled (alive, consuming input, no output)
  --live-stall-events    start with status events stalled
  --live-crash-after-segments N  exit (code 1) after N live input segments
  --live-faults          serve POST /wharf/live/faults {"stallOutput","stallEvents","crash"} (tests)
  --live-payment-interval T  with --require-payment: debit live sessions every T (default 5s; "500ms",
                         "2s" or seconds), paced by input segments; an unpaid session is closed
`;

export const LIVE_CLI_OPTIONS = {
  "no-live": { type: "boolean" },
  "live-capacity": { type: "string" },
  "live-events-ms": { type: "string" },
  "live-stall-output": { type: "boolean" },
  "live-stall-events": { type: "boolean" },
  "live-crash-after-segments": { type: "string" },
  "live-faults": { type: "boolean" },
  "live-payment-interval": { type: "string" },
} as const;

function int(name: string, v: unknown, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || v.trim() === "" || !Number.isInteger(n) || n < min) throw new Error(`--${name}: invalid value "${String(v)}"`);
  return n;
}

/** "5s", "500ms" or a number of seconds, in ms (go takes a duration for -livePaymentInterval). */
function interval(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(String(v).trim());
  const ms = m ? Number(m[1]) * (m[2] === "ms" ? 1 : 1000) : NaN;
  if (!(ms > 0)) throw new Error(`--${name}: expected a duration like 5s or 500ms, got "${String(v)}"`);
  return ms;
}

/** The live feature configured from parsed CLI values (undefined with --no-live). Throws on bad values. */
export function liveFeatureFromCli(values: Record<string, unknown>): LiveFeature | undefined {
  if (values["no-live"]) return undefined;
  return createLiveFeature({
    capacity: int("live-capacity", values["live-capacity"]),
    eventsIntervalMs: int("live-events-ms", values["live-events-ms"], 100),
    faults: { stallOutput: values["live-stall-output"] === true, stallEvents: values["live-stall-events"] === true },
    crashAfterSegments: int("live-crash-after-segments", values["live-crash-after-segments"], 1),
    faultRoute: values["live-faults"] === true,
    paymentIntervalMs: interval("live-payment-interval", values["live-payment-interval"]),
  });
}
