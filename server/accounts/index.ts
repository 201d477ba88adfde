// Public surface of the accounts module.
export {
  Accounts, AccountsError, createAccounts, validateKeyInput,
  type AccountsEvents, type AccountsOptions, type Actor, type BatchUsageInput, type CreateKeyInput, type CreateStreamInput,
  type EnsureAdminKeyResult, type SpendCap, type SpendDecision, type StreamUsageInput, type UpdateKeyInput,
} from "./accounts.ts";
export { AuthService, hasScope, type AuthFailure, type AuthFailureReason, type AuthResult, type RequiredScope } from "./auth.ts";
export { hashSecret, newApiKeySecret, newStreamKey } from "./crypto.ts";
export { ipAllowed, parseCidr, canonicalCidr } from "./ip.ts";
export { DEFAULT_PRICE_BOOK, PriceBook, formatMicros, fromMicros, toMicros, type PriceBookConfig, type PriceRule } from "./pricing.ts";
export { ConcurrencyLimiter, TokenBucketLimiter, defaultBurst, type RateDecision, type StreamSlot } from "./ratelimit.ts";
export { SqliteStorage, MIGRATIONS } from "./sqlite.ts";
export { usageGroupsCsv, usageRecordsCsv } from "./csv.ts";
export * from "./types.ts";
