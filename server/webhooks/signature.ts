// The Wharf-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
// The timestamp is signed with the body so a receiver can refuse replays older than it likes.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "wharf-signature";

/** A new signing secret: 32 random bytes, shown to the operator once. */
export function newWebhookSecret(): string {
  return "whsec_" + randomBytes(32).toString("base64url");
}

export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const v1 = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${v1}`;
}

/** What a receiver does: true when the header's v1 is the body's HMAC at its t (tolerance: seconds of age accepted). */
export function verifySignature(secret: string, body: string, header: string, nowSeconds: number, toleranceSec = 300): boolean {
  const parts = new Map(header.split(",").map((p) => p.trim().split("=", 2) as [string, string]));
  const t = Number(parts.get("t"));
  const v1 = parts.get("v1");
  if (!Number.isInteger(t) || !v1 || Math.abs(nowSeconds - t) > toleranceSec) return false;
  const want = Buffer.from(signatureHeader(secret, body, t).split("v1=")[1]!, "hex");
  const got = Buffer.from(v1, "hex");
  return got.length === want.length && timingSafeEqual(got, want);
}
