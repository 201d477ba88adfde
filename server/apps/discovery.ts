// Asking an orchestrator which apps it hosts: `GET {orchestrator}/discovery` (go-livepeer 0.9 Live
// Runner), read into the registry's OrchestratorApps. The `byoc` list in it is Wharf's development
// orchestrator's only (shown in the catalogue); BYOC jobs are routed by job tokens (byoc.ts).
import { request } from "undici";
import { moduleLogger } from "../../core/log.ts";
import { orchestratorDispatcher } from "../../protocol/http-agent.ts";
import { parseDiscovery } from "../../protocol/apps/live-runner.ts";
import { readBoundedText } from "../../protocol/bounded-body.ts";
import type { ClientTlsPolicy } from "../../protocol/tls.ts";
import type { OrchestratorApps } from "../orchestrators/registry.ts";

const log = moduleLogger("apps");
const DISCOVERY_TIMEOUT_MS = 3000;
const MAX_DISCOVERY_BYTES = 1024 * 1024;

export async function fetchOrchestratorApps(address: string, tls?: ClientTlsPolicy): Promise<OrchestratorApps> {
  const res = await request(`${address.replace(/\/+$/, "")}/discovery`, { dispatcher: orchestratorDispatcher(tls), signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) });
  if (res.statusCode === 404) {
    await res.body.dump();
    return { runners: [], byoc: [] }; // an orchestrator without apps
  }
  const text = await readBoundedText(res.body, MAX_DISCOVERY_BYTES, "GET /discovery");
  if (res.statusCode !== 200) throw new Error(`GET /discovery answered ${res.statusCode}: ${text.slice(0, 200)}`);
  const { runners, byoc, dropped } = parseDiscovery(JSON.parse(text));
  if (dropped > 0) log.warn({ orchestrator: address, dropped }, "GET /discovery: entries dropped (not a valid runner or capability)");
  return { runners, byoc };
}
