// What the apps end-to-end tests ask a development orchestrator: tickets credited, a runner's free slots.
import type { DiscoveryEntry } from "../../protocol/apps/live-runner.ts";
import type { OrchestratorProcess } from "./orchestrator.ts";

/** Wei the orchestrator credited from tickets, all payers. */
export async function credited(o: OrchestratorProcess): Promise<bigint> {
  const v = (await (await fetch(`${o.url}/wharf/payments`)).json()) as { totals: { credited: string } };
  return BigInt(v.totals.credited);
}

/** Wei the orchestrator debited for work, all payers. */
export async function debited(o: OrchestratorProcess): Promise<bigint> {
  const v = (await (await fetch(`${o.url}/wharf/payments`)).json()) as { totals: { debited: string } };
  return BigInt(v.totals.debited);
}

/** Free slots of the orchestrator's runner of `app` (undefined when it does not list one). */
export async function appCapacity(o: OrchestratorProcess, app = "example/echo"): Promise<number | undefined> {
  const d = (await (await fetch(`${o.url}/discovery`)).json()) as DiscoveryEntry[];
  return d[0]!.runners.find((r) => r.app === app)?.capacity_available;
}
