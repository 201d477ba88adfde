// Paying the orchestrators that host apps, through the remote signer: a Live Runner session priced
// per second pays as `type: "live"` (the signer prepays 10 s, then every interval the time since the
// last payment goes to the session's payment_url), one priced per 720p-pixel-second as `"lv2v"`
// (720p30 a second, as go-livepeer bills it), one at a fixed price once (`"fixed"`, no top-ups: the
// orchestrator refuses them with 409); a single-shot request pays once (`type: "fixed"`) with the
// OrchestratorInfo of its own 402 challenge (see runs.ts for why a quote is not shared between
// requests). BYOC jobs pay by the orchestrator's job token instead (byoc.ts).
import { request } from "undici";
import type { JobSender } from "../../protocol/apps/byoc.ts";
import { readBounded } from "../../protocol/bounded-body.ts";
import { orchestratorDispatcher } from "../../protocol/http-agent.ts";
import { isPaymentChallenge, PAYER_ADDRESS_HEADER, type DiscoveryUnit, type PaymentChallenge } from "../../protocol/apps/live-runner.ts";
import { decodeBase64, decodeMessage, type OrchestratorInfo } from "../../protocol/messages.ts";
import { PaymentRefusal, ticketEvOf, type TicketSource } from "../../protocol/payments/balance-session.ts";
import { LivePaymentSession } from "../../protocol/payments/live-payments.ts";
import type { LivePaymentResult } from "../../protocol/payments/remote-signer-client.ts";
import { Rational } from "../../protocol/payments/rational.ts";
import { PAYMENT_HEADER, SEGMENT_HEADER } from "../../protocol/segment-header.ts";

/** A session's fresh payment parameters (a PaymentResult: an OrchestratorInfo) are a few KB, sent at once. */
const QUOTE_TIMEOUT_MS = 10_000;
const MAX_QUOTE_BYTES = 256 * 1024;

export interface AppPayer {
  signer: TicketSource;
  /** The signer's address (EIP-55), sent as Livepeer-Payer-Address; undefined until it answered. */
  address(): string | undefined;
  /** BYOC: the address and its signature for a job token (undefined until the signer answered). */
  jobSender?(): JobSender | undefined;
  /** BYOC: a job's signature, undefined when the signer signs no jobs. */
  signJob?(request: string, parameters: string): Promise<string | undefined>;
}

/** Read a 402 answer's challenge, or throw with what the orchestrator said. */
export function challengeOf(status: number, body: string): PaymentChallenge {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new PaymentRefusal("no-quote", `the orchestrator asked for payment (${status}) without payment parameters: ${body.slice(0, 200)}`);
  }
  if (!isPaymentChallenge(json)) throw new PaymentRefusal("no-quote", `the orchestrator's payment challenge lacks payment_params or manifest_id`);
  return json;
}

/** A Live Runner session's payments, from its 402 challenge on, by the runner's price unit. */
export function sessionPayments(payer: AppPayer, challenge: PaymentChallenge, unit: DiscoveryUnit): LivePaymentSession {
  let first = true;
  return new LivePaymentSession({
    signer: payer.signer,
    type: unit === "fixed" ? "fixed" : unit === "720p-pixel-seconds" ? "lv2v" : "live",
    manifestId: challenge.manifest_id,
    paymentUrl: challenge.payment_url,
    quote: async () => {
      if (first) {
        first = false;
        return decodeBase64("OrchestratorInfo", challenge.payment_params);
      }
      // A refresh (480): the session's payment URL answers fresh parameters for the payer.
      const res = await request(challenge.payment_url, { method: "POST", dispatcher: orchestratorDispatcher(), headers: { [PAYER_ADDRESS_HEADER]: payer.address() ?? "" }, body: "", signal: AbortSignal.timeout(QUOTE_TIMEOUT_MS) });
      const bytes = await readBounded(res.body, MAX_QUOTE_BYTES, `POST ${challenge.payment_url}`);
      if (res.statusCode !== 200) throw new Error(`POST ${challenge.payment_url} answered ${res.statusCode}`);
      const info = decodeMessage("PaymentResult", bytes).info;
      if (!info) throw new Error("PaymentResult without OrchestratorInfo");
      return info;
    },
  });
}

/** One payment of `type: "fixed"` for a single-shot request: the two headers and the EV sent. */
export async function payOnce(payer: AppPayer, info: OrchestratorInfo, manifestId: string, signal?: AbortSignal): Promise<{ headers: Record<string, string>; paidWei: bigint }> {
  const p = paymentOf(await payer.signer.generateLivePayment({ orchestrator: info, type: "fixed", manifestId }, signal), info);
  return { headers: p.payment ? { [PAYMENT_HEADER]: p.payment, [SEGMENT_HEADER]: p.segCreds ?? "" } : {}, paidWei: p.paidWei };
}

/**
 * A one-off payment's signer answer: the `Livepeer-Payment` and `Livepeer-Segment` values and the
 * EV of its tickets (none when the credit covered it). Throws PaymentRefusal on 480 and 481.
 */
export function paymentOf(res: LivePaymentResult, info: OrchestratorInfo): { payment?: string; segCreds?: string; paidWei: bigint } {
  switch (res.kind) {
    case "Paid": {
      const n = decodeBase64("Payment", res.payment).ticketSenderParams?.length ?? 0;
      return { payment: res.payment, segCreds: res.segCreds, paidWei: ticketEvOf(info).mul(Rational.of(BigInt(n))).ceil() };
    }
    case "NoTicketsNeeded":
      return { paidWei: 0n };
    case "RefreshSession":
      throw new PaymentRefusal("refresh-exhausted", `the signer wants fresh payment parameters: ${res.message}`);
    case "PriceTooHigh":
      throw new PaymentRefusal("price-too-high", res.message || "orchestrator price above the ceiling");
  }
}
