// go-livepeer 0.9's Live Runner and BYOC wire shapes, shared by the gateway and the development
// orchestrator: GET /discovery, the session reservation and its 402 payment challenge, the headers
// the app proxy adds, and BYOC's `Livepeer` request header.

import { Type } from "typebox";
import { Compile } from "typebox/compile";
import { isJobRequestText } from "./byoc.ts";

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
  /** go-livepeer: a string of at most 1024 bytes (public; often JSON text). */
  metadata?: string;
  mode: RunnerMode;
  capacity: number;
  capacity_used: number;
  capacity_available: number;
  /** Omitted off-chain. `price` is wei per unit (a decimal; Wharf's orchestrator adds the exact fraction). */
  price_info?: { price: number; currency: "wei"; /** Absent: the mode's default (seconds for a session, fixed for a run). */ unit?: DiscoveryUnit; price_per_unit?: number; pixels_per_unit?: number };
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

/** go-livepeer's limit on a runner's metadata. */
const MAX_METADATA_BYTES = 1024;
/**
 * Pixels a second of a session priced per 720p-pixel-second pays for: 720p at 30 fps (go-livepeer
 * bills such sessions as live video-to-video, and converts a USD price per hour of "720p" over 3600 of these).
 */
export const PIXELS_PER_SECOND_720P30 = 1280 * 720 * 30;
/** Wei per unit above this (1000 ETH) is not a price any orchestrator means: such a runner is dropped. */
const MAX_WEI_PRICE = 1e21;
const MAX_CAPACITY = 1_000_000;
const Count = Type.Integer({ minimum: 0, maximum: MAX_CAPACITY });
const Wei = Type.Number({ minimum: 0, maximum: MAX_WEI_PRICE });
/** A price in wei: a number, or a decimal string (read as a number). */
const WeiField = Type.Union([Wei, Type.String({ maxLength: 64 })]);
/** null (or absent) stands for no price (off-chain). Older go-livepeer builds gave price_per_unit / pixels_per_unit without price. */
const PriceInfo = Type.Union([Type.Null(), Type.Object({
  price: Type.Optional(WeiField),
  currency: Type.Optional(Type.String({ maxLength: 16 })),
  unit: Type.Optional(Type.String({ maxLength: 32 })),
  price_per_unit: Type.Optional(WeiField),
  pixels_per_unit: Type.Optional(Type.Number({ minimum: 0 })),
})]);
/** go-livepeer reports capacity minus sessions, below 0 when a runner's capacity was lowered: read as 0. */
const SignedCount = Type.Integer({ minimum: -MAX_CAPACITY, maximum: MAX_CAPACITY });
/**
 * What a runner entry must hold to be used: where it is, what it runs, its free capacity and (money)
 * its price. The descriptive fields (version, gpu, metadata) are kept when well formed, else dropped.
 * A missing mode is go-livepeer's default, persistent.
 */
const RunnerShape = Compile(Type.Object({
  url: Type.String({ minLength: 1, maxLength: 2048 }),
  app: Type.String({ minLength: 1, maxLength: 256 }),
  mode: Type.Optional(Type.Union([Type.Literal("persistent"), Type.Literal("single-shot"), Type.Literal("single_shot"), Type.Literal("")])),
  capacity: Type.Optional(Count),
  capacity_used: Type.Optional(Count),
  capacity_available: SignedCount,
  price_info: Type.Optional(PriceInfo),
}));
const ByocShape = Compile(Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  capacity: Type.Optional(Count),
  capacity_used: Type.Optional(Count),
  capacity_available: SignedCount,
  price_info: Type.Optional(PriceInfo),
}));

/** Whether `s` is an http(s) URL (of a sane length): what a runner, app or control URL must be. */
export function isHttpUrl(s: unknown): s is string {
  if (typeof s !== "string" || s.length > 2048) return false;
  try {
    const u = new URL(s);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}

/** A wei amount as a number: undefined when it is not a finite amount from 0 to MAX_WEI_PRICE. */
function wei(v: number | string | undefined): number | undefined {
  const n = typeof v === "string" ? (/^\s*[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\s*$/.test(v) ? Number(v) : NaN) : v;
  return n !== undefined && Number.isFinite(n) && n >= 0 && n <= MAX_WEI_PRICE ? n : undefined;
}

type PriceIn = { price?: number | string; currency?: string; unit?: string; price_per_unit?: number | string; pixels_per_unit?: number } | null | undefined;
const UNITS: ReadonlySet<string> = new Set(["seconds", "720p-pixel-seconds", "fixed"]);

/**
 * The price with its amounts as numbers of wei: null for no price; undefined (the runner is dropped)
 * when an amount is not one, when there is no amount at all, or when it is in another currency.
 */
function priceOf(p: PriceIn): Record<string, unknown> | null | undefined {
  if (!p) return null;
  if (p.currency !== undefined && p.currency.toLowerCase() !== "wei") return undefined;
  const price = p.price === undefined ? undefined : wei(p.price);
  const perUnit = p.price_per_unit === undefined ? undefined : wei(p.price_per_unit);
  if ((p.price !== undefined && price === undefined) || (p.price_per_unit !== undefined && perUnit === undefined)) return undefined;
  const derived = price ?? (perUnit !== undefined && p.pixels_per_unit ? perUnit / p.pixels_per_unit : undefined);
  if (derived === undefined) return undefined;
  // A unit Wharf does not know would make the price mean something else; "WEI" is how older
  // go-livepeer builds named the currency there.
  const unit = p.unit?.toLowerCase();
  if (unit && unit !== "wei" && !UNITS.has(unit)) return undefined;
  return {
    price: derived,
    currency: "wei",
    ...(unit && UNITS.has(unit) ? { unit } : {}),
    ...(perUnit !== undefined ? { price_per_unit: perUnit } : {}),
    ...(p.pixels_per_unit !== undefined ? { pixels_per_unit: p.pixels_per_unit } : {}),
  };
}

function gpuOf(g: unknown): DiscoveredRunner["gpu"] {
  if (!g || typeof g !== "object") return null;
  const o = g as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" ? v.slice(0, 256) : undefined);
  return { id: str(o.id), name: str(o.name), vram_mb: typeof o.vram_mb === "number" && Number.isFinite(o.vram_mb) ? o.vram_mb : undefined };
}

/** A runner's or capability's counts as go-livepeer sends them: a negative free count is none, total and used may be left out. */
function capacityOf(e: { capacity?: number; capacity_used?: number; capacity_available: number }): { capacity: number; capacity_used: number; capacity_available: number } {
  const available = Math.max(0, e.capacity_available);
  const capacity = e.capacity ?? available;
  return { capacity, capacity_used: e.capacity_used ?? Math.max(0, capacity - available), capacity_available: available };
}

/**
 * The runners and BYOC capabilities of a `GET /discovery` answer (parsed JSON). An entry that is
 * not what the shape says (a price that is not a finite, non-negative amount of wei, a URL that is
 * not http(s), a capacity that is not a count, an unknown mode) is dropped and counted, so one bad
 * entry does not take the orchestrator's other apps (or anyone's catalogue) down with it.
 */
export function parseDiscovery(json: unknown): { runners: DiscoveredRunner[]; byoc: DiscoveredByoc[]; dropped: number } {
  if (!Array.isArray(json)) throw new Error("GET /discovery: expected a JSON array");
  const runners: DiscoveredRunner[] = [];
  const byoc: DiscoveredByoc[] = [];
  let dropped = 0;
  for (const e of json as Array<Partial<Record<"runners" | "byoc", unknown>> | null>) {
    for (const r of Array.isArray(e?.runners) ? (e.runners as unknown[]) : []) {
      if (!RunnerShape.Check(r) || !isHttpUrl(r.url)) {
        dropped++;
        continue;
      }
      const price = priceOf(r.price_info as PriceIn);
      if (price === undefined) {
        dropped++;
        continue;
      }
      const extra = r as Record<string, unknown>;
      runners.push({
        url: r.url, app: r.app, mode: r.mode === "single-shot" || r.mode === "single_shot" ? "single-shot" : "persistent",
        version: typeof extra.version === "string" ? extra.version.slice(0, 256) : "",
        gpu: gpuOf(extra.gpu),
        // A string of at most 1 KiB, as go-livepeer registers it; anything else (an orchestrator's
        // megabyte of nested arrays) is not kept, so it cannot weigh on GET /v1/orchestrators.
        ...(typeof extra.metadata === "string" && extra.metadata.length <= MAX_METADATA_BYTES && Buffer.byteLength(extra.metadata) <= MAX_METADATA_BYTES ? { metadata: extra.metadata } : {}),
        ...capacityOf(r),
        ...(price ? { price_info: price as DiscoveredRunner["price_info"] } : {}),
      });
    }
    for (const b of Array.isArray(e?.byoc) ? (e.byoc as unknown[]) : []) {
      if (!ByocShape.Check(b)) {
        dropped++;
        continue;
      }
      const price = priceOf(b.price_info as PriceIn);
      if (price === undefined) {
        dropped++;
        continue;
      }
      byoc.push({
        name: b.name, ...capacityOf(b),
        ...(price ? { price_info: price as DiscoveredByoc["price_info"] } : {}),
      });
    }
  }
  return { runners, byoc, dropped };
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
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return undefined; // not valid %-encoding: not a runner URL
  }
}

export interface ByocJob {
  /** The job's JSON, as a string. */
  request: string;
  parameters: Record<string, unknown> & { orchestrators?: { include?: string[]; exclude?: string[] } };
  /** The parameters as the client wrote them (a JSON string is kept byte for byte: a job's signature covers it). */
  parametersText: string;
  capability: string;
  timeout_seconds: number;
}

export class ByocHeaderError extends Error {}

/** A BYOC capability's name, at most (it names a container; go takes a comma-separated list in a token request). */
const MAX_CAPABILITY_CHARS = 128;
/** A job's timeout_seconds is taken up to an hour. */
const MAX_BYOC_TIMEOUT_SECONDS = 3600;

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
  if (o.capability.length > MAX_CAPABILITY_CHARS || /[\u0000-\u001f\u007f,]/.test(o.capability)) {
    throw new ByocHeaderError(`${BYOC_HEADER} header: capability must be at most ${MAX_CAPABILITY_CHARS} characters, without control characters or commas`);
  }
  // go-livepeer's gateway sends parameters as a JSON string (JobRequest.Parameters); an object is taken too.
  let parameters: unknown = o.parameters;
  const parametersText = typeof parameters === "string" ? parameters : parameters === undefined || parameters === null ? "" : JSON.stringify(parameters);
  if (typeof parameters === "string") {
    try {
      parameters = parameters.trim() === "" ? {} : JSON.parse(parameters);
    } catch {
      throw new ByocHeaderError(`${BYOC_HEADER} header: parameters is not JSON`);
    }
  }
  const picks = (parameters as ByocJob["parameters"] | undefined)?.orchestrators;
  for (const list of [picks?.include, picks?.exclude]) {
    if (list !== undefined && !(Array.isArray(list) && list.every((a) => typeof a === "string"))) {
      throw new ByocHeaderError(`${BYOC_HEADER} header: parameters.orchestrators.include and .exclude must be arrays of orchestrator addresses`);
    }
  }
  const request = o.request === undefined || o.request === null ? "{}" : o.request;
  if (!isJobRequestText(request)) throw new ByocHeaderError(`${BYOC_HEADER} header: request must be a JSON object as a string (its stream_id a string), as go-livepeer's orchestrator reads it`);
  return {
    request,
    parameters: parameters && typeof parameters === "object" ? (parameters as ByocJob["parameters"]) : {},
    parametersText,
    capability: o.capability,
    // go's JobRequest.Timeout is an int: a fraction would be refused by every orchestrator.
    timeout_seconds: typeof o.timeout_seconds === "number" && o.timeout_seconds > 0 ? Math.min(Math.ceil(o.timeout_seconds), MAX_BYOC_TIMEOUT_SECONDS) : 30,
  };
}

export function encodeByocHeader(job: Partial<ByocJob> & { capability: string }): string {
  return Buffer.from(JSON.stringify({ request: "{}", parameters: {}, timeout_seconds: 30, ...job })).toString("base64");
}
