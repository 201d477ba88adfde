// Secrets: generation (base62 from a CSPRNG, no modulo bias), hashing, display prefixes.
import { hash, randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Uniform random base62 string (rejection sampling: bytes >= 248 are discarded). */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    const buf = randomBytes(length * 2);
    for (const b of buf) {
      if (b >= 248) continue; // 248 = 62 * 4
      out += ALPHABET[b % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

export const API_KEY_PREFIX = "wk_";
export const STREAM_KEY_PREFIX = "sk_";
/** 40 base62 characters = 238 bits of entropy. */
export const SECRET_LENGTH = 40;
/** Characters of the secret kept in clear for display/lookup ("wk_" + 8). */
export const DISPLAY_PREFIX_LENGTH = API_KEY_PREFIX.length + 8;

export function newApiKeySecret(): string {
  return API_KEY_PREFIX + randomBase62(SECRET_LENGTH);
}

export function newStreamKey(): string {
  return STREAM_KEY_PREFIX + randomBase62(32);
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBase62(16)}`;
}

/**
 * SHA-256 hex of a secret. A plain (unsalted, fast) hash is adequate because
 * generated secrets carry 238 bits of entropy; operator-chosen admin secrets
 * (WHARF_ADMIN_KEY) are required to be at least 24 characters.
 */
export function hashSecret(secret: string): string {
  return hash("sha256", secret, "hex"); // one-shot: no Hash object per authenticated request
}

export function displayPrefix(secret: string): string {
  if (secret.startsWith(API_KEY_PREFIX)) return secret.slice(0, DISPLAY_PREFIX_LENGTH);
  // Operator-chosen secrets: show only 4 characters.
  return secret.slice(0, 4);
}

