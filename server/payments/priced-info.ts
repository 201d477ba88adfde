// OrchestratorInfo as an orchestrator answers it for one model: asked with that model's
// capabilities, its price_info is the model's price and its ticket params are made for that
// price. An orchestrator derives each ticket's secret from the price the payment names, so
// AI and live payments must use this info, not the general one the registry refreshes.
import { modelJobCapabilities } from "../../protocol/capabilities.ts";
import type { OrchestratorInfo, OrchestratorRequest } from "../../protocol/messages.ts";

/** Asked again at least this often; tickets params last ~8 min and auth tokens 30 min. */
const MAX_AGE_MS = 60_000;
/** At most this many (orchestrator, capability, model) entries are kept. */
const MAX_ENTRIES = 5000;

export type FetchInfo = (address: string, request: OrchestratorRequest) => Promise<OrchestratorInfo>;

interface Entry {
  info?: OrchestratorInfo;
  at: number;
  pending?: Promise<OrchestratorInfo>;
}

export class PricedInfoCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly fetch: FetchInfo,
    /** The sender fields (address, sig) of every request. */
    private readonly sender: () => OrchestratorRequest | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The info for (orchestrator, capability, model), asked for when missing or old. */
  get(address: string, capability: number, modelId: string): Promise<OrchestratorInfo> {
    const e = this.entries.get(key(address, capability, modelId));
    if (e?.pending) return e.pending;
    if (e?.info && this.now() - e.at < MAX_AGE_MS && !tokenExpiring(e.info, this.now())) return Promise.resolve(e.info);
    return this.refresh(address, capability, modelId);
  }

  /** Ask again now (a 480 from the signer, expired params). */
  refresh(address: string, capability: number, modelId: string): Promise<OrchestratorInfo> {
    const k = key(address, capability, modelId);
    const e: Entry = this.entries.get(k) ?? { at: 0 };
    if (e.pending) return e.pending;
    if (!this.entries.has(k)) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(k, e);
    }
    e.pending = this.fetch(address, { ...this.sender(), capabilities: modelJobCapabilities(capability, modelId) }).then(
      (info) => {
        e.info = info;
        e.at = this.now();
        e.pending = undefined;
        return info;
      },
      (err: unknown) => {
        e.pending = undefined;
        throw err;
      },
    );
    return e.pending;
  }
}

function key(address: string, capability: number, modelId: string): string {
  return `${address}\u0000${capability}\u0000${modelId}`;
}

/** The auth token has less than 10 % of its ~30 min left (go-livepeer refreshes then). */
function tokenExpiring(info: OrchestratorInfo, now: number): boolean {
  const exp = info.authToken?.expiration;
  return exp !== undefined && exp > 0 && exp * 1000 - now < 180_000;
}
