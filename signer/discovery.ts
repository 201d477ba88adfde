// GET /discover-orchestrators for development: the signer asks a fixed list of orchestrators
// (--orchestrators) with GetOrchestrator, signed with its own key, and keeps the last answers.
// Entries are shaped like go-livepeer's: {address, score: 1, capabilities: ["<pipeline>/<model>"]},
// where a capability counts only if the orchestrator prices it (per model, else its global price)
// within the signer's configured maximum. An orchestrator that offers no priced AI capability but
// hosts apps (its GET /discovery lists Live Runner runners or BYOC capabilities) is listed with no
// capabilities: a gateway asking for all orchestrators finds it and reads its apps from its
// /discovery; one asking for AI capabilities does not. No answer yet -> undefined (the route answers 503).
import { request } from "undici";
import type { Logger } from "../core/log.ts";
import { capabilityToPipeline } from "../protocol/capabilities.ts";
import { orchestratorDispatcher } from "../protocol/http-agent.ts";
import { getOrchestrator } from "../protocol/grpc-client.ts";
import type { OrchestratorInfo } from "../protocol/messages.ts";
import { signOrchestratorRequest } from "../protocol/payments/orchestrator-request-sig.ts";
import type { MessageSigner } from "../protocol/payments/personal-sign.ts";
import { Rational } from "../protocol/payments/rational.ts";
import type { DiscoveredOrchestrator } from "../protocol/payments/remote-signer-wire.ts";

export const DEFAULT_DISCOVERY_INTERVAL_MS = 60_000;
export const DISCOVERY_CALL_TIMEOUT_MS = 5_000;

/** The price of one capability/model: its own entry in capabilities_prices, else the global price_info. */
function capabilityPrice(info: OrchestratorInfo, capability: number, model: string): Rational | undefined {
  for (const p of info.capabilitiesPrices ?? []) {
    if ((p.pixelsPerUnit ?? 0) <= 0 || p.capability !== capability) continue;
    if (p.constraint === model) return Rational.of(p.pricePerUnit ?? 0, p.pixelsPerUnit!);
  }
  const g = info.priceInfo;
  if (!g || (g.pixelsPerUnit ?? 0) <= 0) return undefined;
  return Rational.of(g.pricePerUnit ?? 0, g.pixelsPerUnit!);
}

/** "<pipeline>/<model>" entries an orchestrator offers at an acceptable price, sorted. */
export function discoveryCapabilities(info: OrchestratorInfo, maxPrice?: Rational): string[] {
  const out: string[] = [];
  for (const [capKey, constraints] of Object.entries(info.capabilities?.constraints?.PerCapability ?? {})) {
    const capability = Number(capKey);
    const pipeline = capabilityToPipeline(capability);
    if (!pipeline) continue;
    for (const model of Object.keys(constraints.models ?? {})) {
      if (model === "") continue;
      const price = capabilityPrice(info, capability, model);
      if (!price || (maxPrice && price.cmp(maxPrice) > 0)) continue;
      out.push(`${pipeline}/${model}`);
    }
  }
  return out.sort();
}

/** Answers of GET /discovery larger than this are not read (a runner list is a few KiB). */
const MAX_APPS_DISCOVERY_BYTES = 1024 * 1024;

/** Whether the orchestrator's GET /discovery (go-livepeer 0.9 Live Runner) lists any runner or BYOC capability. */
export async function hostsApps(url: string): Promise<boolean> {
  try {
    const res = await request(`${url.replace(/\/+$/, "")}/discovery`, { dispatcher: orchestratorDispatcher(), signal: AbortSignal.timeout(DISCOVERY_CALL_TIMEOUT_MS) });
    if (res.statusCode !== 200 || Number(res.headers["content-length"] ?? 0) > MAX_APPS_DISCOVERY_BYTES) {
      await res.body.dump();
      return false;
    }
    const text = await res.body.text();
    if (text.length > MAX_APPS_DISCOVERY_BYTES) return false;
    const entries = JSON.parse(text) as unknown;
    if (!Array.isArray(entries)) return false;
    return entries.some((e) => (Array.isArray(e?.runners) && e.runners.length > 0) || (Array.isArray(e?.byoc) && e.byoc.length > 0));
  } catch {
    return false;
  }
}

export interface DiscoveryOptions {
  orchestrators: readonly string[];
  signer: MessageSigner;
  intervalMs?: number;
  maxPrice?: Rational;
  log: Logger;
}

export class OrchestratorDiscovery {
  private entries: DiscoveredOrchestrator[] | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private readonly sig: Uint8Array;

  constructor(private readonly opts: DiscoveryOptions) {
    this.sig = signOrchestratorRequest(opts.signer);
  }

  start(): void {
    const tick = () => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        this.timer = setTimeout(tick, this.entries?.length ? (this.opts.intervalMs ?? DEFAULT_DISCOVERY_INTERVAL_MS) : Math.min(5000, this.opts.intervalMs ?? 5000));
        this.timer.unref();
      });
    };
    tick();
  }

  /** Orchestrators offering any of `caps` (all when empty); undefined until one has answered. */
  list(caps: readonly string[]): DiscoveredOrchestrator[] | undefined {
    if (!this.entries?.length) return undefined;
    const wanted = caps.filter((c) => c !== "");
    if (wanted.length === 0) return this.entries;
    return this.entries.filter((e) => e.capabilities?.some((c) => wanted.includes(c)));
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  private async poll(): Promise<void> {
    const request = { address: this.opts.signer.address, sig: this.sig, ignoreCapacityCheck: true };
    const answers = await Promise.all(
      this.opts.orchestrators.map(async (url): Promise<DiscoveredOrchestrator | undefined> => {
        try {
          const info = await getOrchestrator(url, { request, timeoutMs: DISCOVERY_CALL_TIMEOUT_MS });
          const capabilities = discoveryCapabilities(info, this.opts.maxPrice);
          if (capabilities.length === 0) {
            if (await hostsApps(url)) return { address: url, score: 1, capabilities: [] };
            this.opts.log.info({ orchestrator: url }, "orchestrator offers no priced AI capability and hosts no app: left out of discovery");
            return undefined;
          }
          return { address: url, score: 1, capabilities };
        } catch (err) {
          this.opts.log.warn({ orchestrator: url, err: (err as Error).message }, "GetOrchestrator failed: left out of discovery");
          return undefined;
        }
      }),
    );
    this.entries = answers.filter((a): a is DiscoveredOrchestrator => a !== undefined);
  }
}
