// CLI flags of the live-video-to-video feature for orchestrator/main.ts (main.ts only forwards them).
import { createLiveFeature, type LiveFeature } from "./feature.ts";

export const LIVE_USAGE = `  --no-live              do not serve live-video-to-video
  --live-capacity N      concurrent live sessions per model (default 2)
  --live-events-ms N     status event period on the -events channel (default 2000)
  --live-stall-output    start with output stalled (alive, consuming input, no output)
  --live-stall-events    start with status events stalled
  --live-crash-after-segments N  exit (code 1) after N live input segments
  --live-faults          serve POST /wharf/live/faults {"stallOutput","stallEvents","crash"} (tests)
`;

export const LIVE_CLI_OPTIONS = {
  "no-live": { type: "boolean" },
  "live-capacity": { type: "string" },
  "live-events-ms": { type: "string" },
  "live-stall-output": { type: "boolean" },
  "live-stall-events": { type: "boolean" },
  "live-crash-after-segments": { type: "string" },
  "live-faults": { type: "boolean" },
} as const;

function int(name: string, v: unknown, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || v.trim() === "" || !Number.isInteger(n) || n < min) throw new Error(`--${name}: invalid value "${String(v)}"`);
  return n;
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
  });
}
