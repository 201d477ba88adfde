// Validation of API key input (name, scopes, IP allowlist, rate limit, caps) into a storage patch.
import { AccountsError } from "./errors.ts";
import { canonicalCidr } from "./ip.ts";
import { defaultBurst } from "./ratelimit.ts";
import { SCOPES, type ApiKey, type KeyLimitsPatch, type Scope } from "./types.ts";

export interface CreateKeyInput {
  name: string;
  scopes: Scope[];
  ipAllowlist?: string[] | null;
  /** burst defaults to ten seconds' worth (rpm / 6). */
  rateLimit?: { requestsPerMinute: number; burst?: number } | null;
  maxConcurrentStreams?: number | null;
  dailyCapMicros?: number | null;
  monthlyCapMicros?: number | null;
}

export type UpdateKeyInput = Partial<CreateKeyInput>;

export function limitsOf(k: ApiKey) {
  return {
    ipAllowlist: k.ipAllowlist, rateLimit: k.rateLimit, maxConcurrentStreams: k.maxConcurrentStreams,
    dailyCapMicros: k.dailyCapMicros, monthlyCapMicros: k.monthlyCapMicros,
  };
}

export function requireNonNegative(v: number, field: string): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new AccountsError("invalid_request", field, `${field} must be a non-negative number`);
}

function optionalCount(v: number | null | undefined, field: string, min: number): number | null | undefined {
  if (v === undefined || v === null) return v;
  if (!Number.isInteger(v) || v < min) throw new AccountsError("invalid_request", field, `${field} must be an integer >= ${min} or null`);
  return v;
}

/** Validates and normalizes key input into a store patch. */
export function validateKeyInput(input: UpdateKeyInput, creating: boolean): KeyLimitsPatch {
  const out: KeyLimitsPatch = {};
  if (creating || input.name !== undefined) {
    if (typeof input.name !== "string" || input.name.trim().length < 1 || input.name.length > 100) throw new AccountsError("invalid_request", "name", "name must be 1-100 characters");
    out.name = input.name.trim();
  }
  if (creating || input.scopes !== undefined) {
    const scopes = input.scopes;
    if (!Array.isArray(scopes) || scopes.length === 0) throw new AccountsError("invalid_request", "scopes", `scopes must be a non-empty list of ${SCOPES.join(", ")}`);
    for (const s of scopes) if (!SCOPES.includes(s)) throw new AccountsError("invalid_request", "scopes", `unknown scope "${String(s)}" (allowed: ${SCOPES.join(", ")})`);
    out.scopes = [...new Set(scopes)];
  }
  if (input.ipAllowlist !== undefined) {
    if (input.ipAllowlist === null) out.ipAllowlist = null;
    else {
      if (!Array.isArray(input.ipAllowlist) || input.ipAllowlist.length === 0 || input.ipAllowlist.length > 100) {
        throw new AccountsError("invalid_request", "ipAllowlist", "ipAllowlist must be a list of 1-100 CIDR ranges, or null for any address");
      }
      out.ipAllowlist = input.ipAllowlist.map((c, i) => {
        try {
          return canonicalCidr(String(c));
        } catch (e) {
          throw new AccountsError("invalid_request", `ipAllowlist[${i}]`, (e as Error).message);
        }
      });
    }
  }
  if (input.rateLimit !== undefined) {
    if (input.rateLimit === null) out.rateLimit = null;
    else {
      const rpm = input.rateLimit.requestsPerMinute;
      if (!Number.isInteger(rpm) || rpm < 1 || rpm > 1_000_000) throw new AccountsError("invalid_request", "rateLimit.requestsPerMinute", "rateLimit.requestsPerMinute must be an integer 1-1000000");
      const burst = input.rateLimit.burst ?? defaultBurst(rpm);
      if (!Number.isInteger(burst) || burst < 1 || burst > 1_000_000) throw new AccountsError("invalid_request", "rateLimit.burst", "rateLimit.burst must be an integer 1-1000000");
      out.rateLimit = { requestsPerMinute: rpm, burst };
    }
  }
  const mcs = optionalCount(input.maxConcurrentStreams, "maxConcurrentStreams", 0);
  if (mcs !== undefined) out.maxConcurrentStreams = mcs;
  const daily = optionalCount(input.dailyCapMicros, "spendCaps.daily", 0);
  if (daily !== undefined) out.dailyCapMicros = daily;
  const monthly = optionalCount(input.monthlyCapMicros, "spendCaps.monthly", 0);
  if (monthly !== undefined) out.monthlyCapMicros = monthly;
  return out;
}
