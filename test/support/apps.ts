// What the apps end-to-end tests ask a development orchestrator: tickets credited, a runner's free slots.
import type { DiscoveryEntry } from "../../protocol/apps/live-runner.ts";
import type { OrchestratorProcess } from "./orchestrator.ts";

/** The orchestrator's payment totals, all payers: wei credited from tickets, wei debited for work. */
async function paymentTotals(o: OrchestratorProcess): Promise<{ credited: bigint; debited: bigint }> {
  const { totals } = (await (await fetch(`${o.url}/wharf/payments`)).json()) as { totals: { credited: string; debited: string } };
  return { credited: BigInt(totals.credited), debited: BigInt(totals.debited) };
}

export const credited = async (o: OrchestratorProcess): Promise<bigint> => (await paymentTotals(o)).credited;
export const debited = async (o: OrchestratorProcess): Promise<bigint> => (await paymentTotals(o)).debited;

/** What one sender paid and was charged under one balance key (wei, whole), as GET /wharf/payments shows it. */
export interface PaymentAccount {
  credited: string;
  debited: string;
  tickets: { received: number; accepted: number; rejected: Record<string, number> };
}

/** One sender's account for one balance key at the orchestrator (undefined before any payment). */
export async function paymentAccount(o: OrchestratorProcess, sender: string, key: string): Promise<PaymentAccount | undefined> {
  const { senders } = (await (await fetch(`${o.url}/wharf/payments`)).json()) as { senders: Record<string, Record<string, PaymentAccount>> };
  return senders[sender]?.[key];
}

/** Free slots of the orchestrator's runner of `app` (undefined when it does not list one). */
export async function appCapacity(o: OrchestratorProcess, app = "example/echo"): Promise<number | undefined> {
  const d = (await (await fetch(`${o.url}/discovery`)).json()) as DiscoveryEntry[];
  return d[0]!.runners.find((r) => r.app === app)?.capacity_available;
}
