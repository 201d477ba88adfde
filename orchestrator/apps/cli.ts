// CLI flags of the apps feature (Live Runner and BYOC) for orchestrator/main.ts (main.ts only forwards them).
import { createAppsFeature, type AppsFeatureOptions } from "./feature.ts";

export const APPS_USAGE = `  --runners FILE         host Live Runner apps registered in FILE (go-livepeer -liveRunnerConfig schema:
                         {"runners":[{label, runner_url, health_url, app, mode, capacity, price_info, ...}]});
                         BYOC (/capability/register, /process/request) is served with --orch-secret
  --runner-health-ms N   health poll period of the runners (default 5000)
  --app-payment-interval-ms N  with --require-payment: debit app sessions this often (default 5000)
  --orch-secret S        go-livepeer's orchSecret, required by POST /capability/register
  --app-session-idle-ms N  release a session with no payment or app traffic for this long (a gateway that
                         gave up on its reservation or died); default: never, as go-livepeer
`;

export const APPS_CLI_OPTIONS = {
  runners: { type: "string" },
  "runner-health-ms": { type: "string" },
  "app-payment-interval-ms": { type: "string" },
  "orch-secret": { type: "string" },
  "app-session-idle-ms": { type: "string" },
} as const;

function ms(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || !Number.isInteger(n) || n < 50) throw new Error(`--${name}: expected milliseconds >= 50, got "${String(v)}"`);
  return n;
}

/** The apps feature from parsed CLI values (undefined without --runners or --orch-secret). Throws on bad values. */
export function appsFeatureFromCli(values: Record<string, unknown>): ReturnType<typeof createAppsFeature> | undefined {
  if (values.runners === undefined && values["orch-secret"] === undefined) return undefined;
  const o: AppsFeatureOptions = {
    runnersFile: values.runners as string | undefined,
    healthIntervalMs: ms("runner-health-ms", values["runner-health-ms"]),
    paymentIntervalMs: ms("app-payment-interval-ms", values["app-payment-interval-ms"]),
    orchSecret: values["orch-secret"] as string | undefined,
    sessionIdleMs: ms("app-session-idle-ms", values["app-session-idle-ms"]),
  };
  return createAppsFeature(o);
}
