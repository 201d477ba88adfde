// The signer's auth webhook (go-livepeer -remoteSignerWebhookUrl): before answering a payment call
// the signer POSTs {headers, state} and the webhook decides {status, reason?, expiry?, auth_id?,
// maxPrice?}. A webhook that cannot be reached or answers badly is a 500: we never pay unasked.
import { request } from "undici";
import { isObject } from "../protocol/payments/remote-signer-wire.ts";
import type { RawMaxPrice } from "./payment-request.ts";

export const WEBHOOK_TIMEOUT_MS = 5000;
const WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024;

export interface AuthDecision {
  /** HTTP status the payment call answers with (200: go ahead). */
  status: number;
  reason: string;
  /** Unix seconds until which the webhook is not asked again for this session (0: ask every time). */
  expiry: number;
  authId: string;
  maxPrice?: RawMaxPrice;
}

export class AuthWebhookError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuthWebhookError";
  }
}

/** go's http.CanonicalHeaderKey: "content-type" -> "Content-Type". */
export function canonicalHeaderKey(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

export interface AuthWebhook {
  url: string;
  /** Sent to the webhook (its credentials); never logged. */
  headers: Readonly<Record<string, string>>;
}

/** Ask the webhook; throws AuthWebhookError (-> 500) when it fails or answers out of shape. */
export async function askAuthWebhook(hook: AuthWebhook, requestHeaders: Record<string, string[]>, state: Record<string, unknown>): Promise<AuthDecision> {
  const headers: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(requestHeaders)) headers[canonicalHeaderKey(k)] = v;
  let text: string;
  let statusCode: number;
  try {
    const res = await request(hook.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...hook.headers },
      body: JSON.stringify({ headers, state }),
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    statusCode = res.statusCode;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body) {
      size += (c as Buffer).length;
      if (size > WEBHOOK_MAX_RESPONSE_BYTES) {
        res.body.destroy();
        throw new AuthWebhookError(`signer auth answer larger than ${WEBHOOK_MAX_RESPONSE_BYTES} bytes`);
      }
      chunks.push(c as Buffer);
    }
    text = Buffer.concat(chunks).toString("utf8");
  } catch (err) {
    if (err instanceof AuthWebhookError) throw err;
    throw new AuthWebhookError(`failed to call remote signer webhook: ${(err as Error).message}`);
  }
  if (statusCode !== 200) throw new AuthWebhookError(`signer auth error status ${statusCode}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new AuthWebhookError(`signer auth invalid response: ${(err as Error).message}`);
  }
  if (!isObject(body)) throw new AuthWebhookError("signer auth invalid response: not a JSON object");
  const status = body.status;
  if (typeof status !== "number" || !Number.isInteger(status) || status <= 0) throw new AuthWebhookError("signer auth invalid status");
  const expiry = body.expiry ?? 0;
  if (typeof expiry !== "number" || !Number.isInteger(expiry)) throw new AuthWebhookError("signer auth invalid response: expiry must be unix seconds");
  const reason = typeof body.reason === "string" && body.reason !== "" ? body.reason : status !== 200 ? `signer auth rejected request with status ${status}` : "";
  const decision: AuthDecision = { status, reason, expiry, authId: typeof body.auth_id === "string" ? body.auth_id : "" };
  const mp = body.maxPrice;
  if (isObject(mp)) {
    decision.maxPrice = {
      price: typeof mp.price === "number" || typeof mp.price === "string" ? String(mp.price) : "",
      currency: typeof mp.currency === "string" ? mp.currency : "",
      unit: typeof mp.unit === "string" ? mp.unit : "",
    };
  }
  return decision;
}
