// Where orchestrator candidates come from: the static `orchAddr` list and the
// `orchWebhookUrl` (GET -> [{"address","score"}], refreshed each minute, the
// last good list kept on error).
import { request, type Dispatcher } from "undici";
import { parseOrchestratorUrl } from "../../protocol/grpc-client.ts";

export interface Candidate {
  /** Normalized URL: scheme://host:port. */
  address: string;
  source: "static" | "webhook";
  /** Webhook score (higher is better), 1 for static entries. */
  score: number;
  region?: string;
}

/** Normalize an orchestrator address; undefined when invalid. */
export function normalizeAddress(address: string): string | undefined {
  try {
    return parseOrchestratorUrl(address.trim()).url;
  } catch {
    return undefined;
  }
}

/** Addresses (allow/deny lists) normalized, the unusable ones left out. */
export function addressSet(list: string[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const a of list ?? []) {
    const n = normalizeAddress(a);
    if (n) out.add(n);
  }
  return out;
}

/** Parse a comma/space separated list of orchestrator URLs; throws naming the bad entry. */
export function parseOrchAddr(list: string, regions: Readonly<Record<string, string>> = {}): Candidate[] {
  const out = new Map<string, Candidate>();
  for (const raw of list.split(/[,\s]+/)) {
    if (!raw) continue;
    const address = normalizeAddress(raw);
    if (!address) throw new Error(`orchAddr: invalid orchestrator address "${raw}"`);
    out.set(address, { address, source: "static", score: 1, region: regionFor(address, regions) });
  }
  return [...out.values()];
}

function regionFor(address: string, regions: Readonly<Record<string, string>>): string | undefined {
  for (const [k, v] of Object.entries(regions)) if (normalizeAddress(k) === address) return v;
  return undefined;
}

/** Validate a webhook body: [{address: string, score?: number, region?: string}]. Throws on bad shape. */
export function parseWebhookBody(body: unknown, regions: Readonly<Record<string, string>> = {}): Candidate[] {
  if (!Array.isArray(body)) throw new Error("orchestrator webhook: expected a JSON array");
  const out = new Map<string, Candidate>();
  body.forEach((e, i) => {
    if (!e || typeof e !== "object") throw new Error(`orchestrator webhook: entry ${i} is not an object`);
    const o = e as Record<string, unknown>;
    if (typeof o.address !== "string") throw new Error(`orchestrator webhook: entry ${i} has no address`);
    const address = normalizeAddress(o.address);
    if (!address) throw new Error(`orchestrator webhook: entry ${i} has an invalid address "${o.address}"`);
    const score = o.score === undefined || o.score === null ? 1 : Number(o.score);
    if (!Number.isFinite(score) || score < 0) throw new Error(`orchestrator webhook: entry ${i} has an invalid score`);
    const region = typeof o.region === "string" && o.region ? o.region : regionFor(address, regions);
    out.set(address, { address, source: "webhook", score, region });
  });
  return [...out.values()];
}

export interface WebhookOptions {
  url: string;
  timeoutMs?: number;
  dispatcher?: Dispatcher;
  regions?: Readonly<Record<string, string>>;
}

/** One webhook fetch. Throws on network error, non-2xx, bad JSON or bad shape. */
export async function fetchWebhook(opts: WebhookOptions): Promise<Candidate[]> {
  const res = await request(opts.url, {
    method: "GET",
    headers: { accept: "application/json" },
    headersTimeout: opts.timeoutMs ?? 5000,
    bodyTimeout: opts.timeoutMs ?? 5000,
    dispatcher: opts.dispatcher,
  });
  if (res.statusCode < 200 || res.statusCode > 299) {
    await res.body.dump().catch(() => {});
    throw new Error(`orchestrator webhook: status ${res.statusCode}`);
  }
  const text = await res.body.text();
  if (text.length > 4 * 1024 * 1024) throw new Error("orchestrator webhook: body too large");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error("orchestrator webhook: body is not JSON");
  }
  return parseWebhookBody(json, opts.regions);
}
