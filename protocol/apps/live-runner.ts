// go-livepeer 0.9's Live Runner and BYOC wire shapes, shared by the gateway and the development
// orchestrator: GET /discovery, the session reservation and its 402 payment challenge, the headers
// the app proxy adds, and BYOC's `Livepeer` request header.

export const PAYER_ADDRESS_HEADER = "Livepeer-Payer-Address";
export const RUNNER_ROUTE_HEADER = "Livepeer-Runner-Route";
export const SESSION_ID_HEADER = "Livepeer-Session-Id";
export const SESSION_TOKEN_HEADER = "Livepeer-Session-Token";
export const SESSION_CONTROL_HEADER = "Livepeer-Session-Control";
/** BYOC: base64 of JSON {request, parameters, capability, timeout_seconds}. */
export const BYOC_HEADER = "Livepeer";

export type RunnerMode = "persistent" | "single-shot";
export type DiscoveryUnit = "seconds" | "720p-pixel-seconds" | "fixed";

export interface DiscoveredRunner {
  /** Ends in /apps/{runner}/session (persistent) or /apps/{runner}/app (single-shot). */
  url: string;
  gpu?: { id?: string; name?: string; vram_mb?: number } | null;
  /** "pipeline/model". */
  app: string;
  version: string;
  metadata?: unknown;
  mode: RunnerMode;
  capacity: number;
  capacity_used: number;
  capacity_available: number;
  /** Omitted off-chain. `price` is wei per unit (a decimal; Wharf's orchestrator adds the exact fraction). */
  price_info?: { price: number; currency: "wei"; unit: DiscoveryUnit; price_per_unit?: number; pixels_per_unit?: number };
}

/** A BYOC capability as Wharf's development orchestrator lists it beside the runners (not in go-livepeer's discovery). */
export interface DiscoveredByoc {
  name: string;
  capacity: number;
  capacity_used: number;
  capacity_available: number;
  /** Wei per second of compute, as price_per_unit / pixels_per_unit. */
  price_info?: { price: number; currency: "wei"; unit: "seconds"; price_per_unit: number; pixels_per_unit: number };
}

export interface DiscoveryEntry {
  address: string;
  runners: DiscoveredRunner[];
  byoc?: DiscoveredByoc[];
}

/** The 402 answer of a priced runner to a reservation (or a single-shot request) that carries no payment. */
export interface PaymentChallenge {
  /** base64 of the proto OrchestratorInfo to pay with (price and ticket params for the payer). */
  payment_params: string;
  orchestrator: string;
  manifest_id: string;
  payment_url: string;
}

export interface SessionReservation {
  session_id: string;
  app_url: string;
  control_url: string;
}

export function isPaymentChallenge(v: unknown): v is PaymentChallenge {
  const o = v as Partial<PaymentChallenge> | null;
  return !!o && typeof o.payment_params === "string" && typeof o.manifest_id === "string";
}

/** The runner id in a discovery URL (`.../apps/{runner}/session` or `.../apps/{runner}/app`). */
export function runnerIdOf(url: string): string | undefined {
  const m = /\/apps\/([^/]+)\/(?:session|app)\/?$/.exec(url);
  return m ? decodeURIComponent(m[1]!) : undefined;
}

export interface ByocJob {
  /** The job's JSON, as a string. */
  request: string;
  parameters: Record<string, unknown> & { orchestrators?: { include?: string[]; exclude?: string[] } };
  capability: string;
  timeout_seconds: number;
}

export class ByocHeaderError extends Error {}

/** Decode a `Livepeer` header. Throws ByocHeaderError with the reason. */
export function parseByocHeader(value: string | string[] | undefined): ByocJob {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) throw new ByocHeaderError(`missing ${BYOC_HEADER} header`);
  let o: Partial<ByocJob>;
  try {
    o = JSON.parse(Buffer.from(v, "base64").toString("utf8")) as Partial<ByocJob>;
  } catch {
    throw new ByocHeaderError(`${BYOC_HEADER} header is not base64 JSON`);
  }
  if (!o || typeof o.capability !== "string" || o.capability === "") throw new ByocHeaderError(`${BYOC_HEADER} header: capability missing`);
  return {
    request: typeof o.request === "string" ? o.request : "{}",
    parameters: o.parameters && typeof o.parameters === "object" ? o.parameters : {},
    capability: o.capability,
    timeout_seconds: typeof o.timeout_seconds === "number" && o.timeout_seconds > 0 ? o.timeout_seconds : 30,
  };
}

export function encodeByocHeader(job: Partial<ByocJob> & { capability: string }): string {
  return Buffer.from(JSON.stringify({ request: "{}", parameters: {}, timeout_seconds: 30, ...job })).toString("base64");
}
