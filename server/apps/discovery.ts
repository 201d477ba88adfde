// Asking an orchestrator which apps it hosts: `GET {orchestrator}/discovery` (go-livepeer 0.9 Live
// Runner), read into the registry's OrchestratorApps. BYOC capabilities come from the same answer.
import { request } from "undici";
import { orchestratorDispatcher } from "../../protocol/http-agent.ts";
import type { DiscoveryEntry } from "../../protocol/apps/live-runner.ts";
import type { ClientTlsPolicy } from "../../protocol/tls.ts";
import type { OrchestratorApps } from "../orchestrators/registry.ts";

const DISCOVERY_TIMEOUT_MS = 3000;
const MAX_DISCOVERY_BYTES = 1024 * 1024;

export async function fetchOrchestratorApps(address: string, tls?: ClientTlsPolicy): Promise<OrchestratorApps> {
  const res = await request(`${address.replace(/\/+$/, "")}/discovery`, { dispatcher: orchestratorDispatcher(tls), signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) });
  if (res.statusCode === 404) {
    await res.body.dump();
    return { runners: [], byoc: [] }; // an orchestrator without apps
  }
  const text = await res.body.text();
  if (text.length > MAX_DISCOVERY_BYTES) throw new Error(`GET /discovery: answer over ${MAX_DISCOVERY_BYTES} bytes`);
  if (res.statusCode !== 200) throw new Error(`GET /discovery answered ${res.statusCode}: ${text.slice(0, 200)}`);
  const entries = JSON.parse(text) as DiscoveryEntry[];
  if (!Array.isArray(entries)) throw new Error("GET /discovery: expected a JSON array");
  return {
    runners: entries.flatMap((e) => (Array.isArray(e.runners) ? e.runners : [])).filter((r) => typeof r?.url === "string" && typeof r.app === "string"),
    byoc: entries.flatMap((e) => (Array.isArray(e.byoc) ? e.byoc : [])).filter((b) => typeof b?.name === "string"),
  };
}
