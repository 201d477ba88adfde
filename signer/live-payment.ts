// POST /generate-live-payment: one payment cycle of a session, decided in go-livepeer's order
// (server/remote_signer.go GenerateLivePayment): read the request, open the state, refresh (480) if
// the orchestrator's auth token or ticket params are stale, bill the elapsed time, check price
// ceilings (481), count tickets (482 when the credit covers it: no new state), sign the tickets,
// the segment credentials and the new state, ask the auth webhook.
import type { Logger } from "../core/log.ts";
import { decodeMessage, DecodeError, encodeBase64, type Capabilities, type OrchestratorInfo } from "../protocol/messages.ts";
import { addressFromBytes, toHex0x } from "../protocol/payments/address.ts";
import type { MessageSigner } from "../protocol/payments/personal-sign.ts";
import { Rational } from "../protocol/payments/rational.ts";
import { ORCHESTRATOR_URL_HEADER, SIGNER_AUTH_ID_HEADER, signerErrorBody, STATUS_NO_TICKETS, STATUS_PRICE_EXCEEDED, STATUS_REFRESH_SESSION } from "../protocol/payments/remote-signer-wire.ts";
import { livePaymentCredentials } from "../protocol/payments/segment-credentials.ts";
import { ticketEV } from "../protocol/payments/ticket.ts";
import { createTicketBatch, lastNonceFor, pmSessionId } from "../protocol/payments/ticket-batch.ts";
import { ticketsForFee } from "../protocol/payments/ticket-count.ts";
import { checkTicketParams, decodeTicketParams, type SenderLimits } from "../protocol/payments/ticket-params.ts";
import { askAuthWebhook, AuthWebhookError, type AuthWebhook } from "./auth-webhook.ts";
import { billableUnits, feeFor } from "./billing.ts";
import { newPaymentState, openPaymentState, PaymentStateError, randomId, signPaymentState, stateJson, type RemotePaymentState } from "./payment-state.ts";
import { parsePaymentRequest, PaymentRequestError } from "./payment-request.ts";
import { parseMaxPrice, priceAboveCeiling } from "./price-ceiling.ts";

/** go-livepeer refuses to sign more tickets in one call (a drained deposit, slow signing). */
export const MAX_TICKETS_PER_PAYMENT = 100;
/** Refresh when the auth token has less than 10 % of its 30 minutes left. */
export const AUTH_TOKEN_REFRESH_MARGIN_S = 180;

export interface LivePaymentContext {
  signer: MessageSigner;
  limits: SenderLimits;
  /** The L1 block the signer believes is the latest (ticket params expire relative to it). */
  lastSeenL1Block: bigint;
  /** Seconds the first lv2v payment prepays (go-livepeer: 60). */
  lv2vPrepaidSeconds?: number;
  /** -maxPricePerUnit / -pixelsPerUnit equivalent: wei per pixel (per unit). */
  configuredMaxPrice?: Rational;
  authWebhook?: AuthWebhook;
  now: () => number;
  log: Logger;
}

export interface SignerAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const fail = (status: number, message: string, headers?: Record<string, string>): SignerAnswer => ({ status, body: signerErrorBody(message), headers });

export async function generateLivePayment(ctx: LivePaymentContext, rawBody: string, requestHeaders: Record<string, string[]>): Promise<SignerAnswer> {
  let req;
  try {
    req = parsePaymentRequest(rawBody);
  } catch (err) {
    if (err instanceof PaymentRequestError) return fail(400, err.message);
    throw err;
  }
  if (req.orchestrator.length === 0) return fail(400, "missing orchestrator");
  let info: OrchestratorInfo;
  try {
    info = decodeMessage("OrchestratorInfo", req.orchestrator);
  } catch (err) {
    if (err instanceof DecodeError) return fail(400, err.message);
    throw err;
  }
  const price = info.priceInfo;
  if (!price || !price.pricePerUnit || !price.pixelsPerUnit) return fail(400, "missing or zero priceInfo");
  if (price.pricePerUnit < 0 || price.pixelsPerUnit < 0) return fail(400, "negative priceInfo");
  if (!info.ticketParams) return fail(400, "missing ticketParams in OrchestratorInfo");
  const orchAddress = addressFromBytes(info.address);

  const hasState = req.state.State.length > 0 || req.state.Sig.length > 0;
  let state: RemotePaymentState;
  if (hasState) {
    try {
      state = openPaymentState(req.state, ctx.signer.address);
    } catch (err) {
      if (err instanceof PaymentStateError) return fail(400, err.message);
      throw err;
    }
    if (state.OrchestratorAddress !== toHex0x(orchAddress)) return fail(400, "orchestratorAddress mismatch");
    if (state.App !== req.app) return fail(400, "app mismatch");
    if (state.Type !== "" && state.Type !== req.type) return fail(400, "job type mismatch");
    state.Type = req.type === "invalid" ? state.Type : req.type;
    state.SequenceNumber++;
  } else {
    state = newPaymentState(orchAddress, req.app, req.type === "invalid" ? "" : req.type, { pricePerUnit: price.pricePerUnit, pixelsPerUnit: price.pixelsPerUnit });
  }

  let manifestId = req.manifestId;
  if (manifestId === "") {
    // Later calls must name the orchestrator's manifest, which its accounting is keyed by.
    if (hasState) return fail(400, "missing manifestID");
    manifestId = randomId();
  }
  let capabilities: Capabilities | undefined;
  if (req.capabilities.length > 0) {
    try {
      capabilities = decodeMessage("Capabilities", req.capabilities);
    } catch (err) {
      if (err instanceof DecodeError) return fail(400, err.message);
      throw err;
    }
  }

  const params = decodeTicketParams(info.ticketParams);
  const balance = Rational.parse(state.Balance) ?? Rational.ZERO;
  const lastNonce = lastNonceFor({ pmSessionId: state.PMSessionID, senderNonce: state.SenderNonce }, params.recipientRandHash);

  // Refresh the session (480) as go's shouldRefreshSession decides.
  const nowMs = ctx.now();
  const refresh = { [ORCHESTRATOR_URL_HEADER]: info.transcoder ?? "" };
  if (!info.authToken) return fail(400, "remote signer could not check whether to refresh session: missing auth token");
  if (nowMs / 1000 > (info.authToken.expiration ?? 0) - AUTH_TOKEN_REFRESH_MARGIN_S) return fail(STATUS_REFRESH_SESSION, "refresh session for remote signer", refresh);
  const verdict = checkTicketParams(params, ctx.lastSeenL1Block, ctx.limits, 1);
  if (!verdict.ok) {
    if (verdict.expired) return fail(STATUS_REFRESH_SESSION, "refresh session for remote signer", refresh);
    return fail(400, `remote signer could not check whether to refresh session: ${verdict.reason}`);
  }

  if (req.type === "invalid") return fail(400, "invalid job type");
  const { units } = billableUnits(req.type, state.LastUpdate, nowMs, req.inPixels, ctx.lv2vPrepaidSeconds);
  if (units <= 0) return fail(400, "missing billable unit or job type");

  const orchPrice = Rational.of(price.pricePerUnit, price.pixelsPerUnit);
  let requestMax: Rational | undefined;
  try {
    requestMax = parseMaxPrice(req.maxPrice, req.type);
  } catch (err) {
    return fail(400, (err as Error).message);
  }
  let initialMax: Rational | undefined;
  if (hasState) {
    if (state.InitialPricePerUnit <= 0 || state.InitialPixelsPerUnit <= 0) return fail(400, "invalid initial price in state");
    initialMax = Rational.of(state.InitialPricePerUnit, state.InitialPixelsPerUnit);
  }
  const above = priceAboveCeiling(orchPrice, [
    { source: "configured maximum price", price: ctx.configuredMaxPrice },
    { source: "request maxPrice", price: requestMax },
    { source: "initial session price", price: initialMax },
  ]);
  if (above) {
    ctx.log.warn({ stateId: state.StateID, reason: above }, "rejecting payment request");
    return fail(STATUS_PRICE_EXCEEDED, above);
  }

  const fee = feeFor(units, state.InitialPricePerUnit, state.InitialPixelsPerUnit);
  const ev = ticketEV(params.faceValue, params.winProb);
  const count = ticketsForFee(fee, balance, ev);
  if (count.numTickets <= 0) return fail(STATUS_NO_TICKETS, "no tickets");
  if (count.numTickets > MAX_TICKETS_PER_PAYMENT) {
    ctx.log.warn({ stateId: state.StateID, numTickets: count.numTickets, ev: ev.toFixed(3) }, "too many tickets for one payment: if legitimate, check the orchestrator's ticket EV");
    return fail(400, `numTickets ${count.numTickets} exceeds maximum of ${MAX_TICKETS_PER_PAYMENT}`);
  }
  const batchVerdict = checkTicketParams(params, ctx.lastSeenL1Block, ctx.limits, count.numTickets);
  if (!batchVerdict.ok) return fail(500, `could not create payment: ${batchVerdict.reason}`);

  const batch = createTicketBatch({ params, expiration: params.expiration, signer: ctx.signer, lastNonce, count: count.numTickets, expectedPrice: price });
  const segCreds = livePaymentCredentials({ manifestId, authToken: info.authToken, capabilities, signer: ctx.signer });

  state.Balance = count.balanceAfter.toString();
  state.LastUpdate = nowMs;
  state.PMSessionID = pmSessionId(params.recipientRandHash);
  state.SenderNonce = batch.lastNonce;

  let authId = requestHeaders[SIGNER_AUTH_ID_HEADER.toLowerCase()]?.[0] ?? "";
  const hook = ctx.authWebhook;
  if (hook && !(state.AuthExpiry !== 0 && nowMs / 1000 <= state.AuthExpiry)) {
    let decision;
    try {
      decision = await askAuthWebhook(hook, requestHeaders, stateJson(state));
    } catch (err) {
      if (err instanceof AuthWebhookError) {
        ctx.log.error({ stateId: state.StateID, err: err.message }, "auth webhook failed");
        return fail(500, err.message);
      }
      throw err;
    }
    if (decision.status !== 200) return fail(decision.status, decision.reason);
    state.AuthExpiry = decision.expiry;
    if (decision.maxPrice) {
      let hookMax: Rational | undefined;
      try {
        hookMax = parseMaxPrice(decision.maxPrice, req.type);
      } catch (err) {
        return fail(502, `signer auth invalid maxPrice: ${(err as Error).message}`);
      }
      const aboveHook = priceAboveCeiling(orchPrice, [{ source: "auth webhook maxPrice", price: hookMax }]);
      if (aboveHook) return fail(STATUS_PRICE_EXCEEDED, aboveHook);
    }
    if (decision.authId) authId = decision.authId;
  }
  if (authId !== "" && state.AuthID !== authId) {
    if (state.AuthID !== "") {
      ctx.log.warn({ stateId: state.StateID }, "remote signer auth ID changed");
      return fail(500, "remote signer auth ID changed");
    }
    state.AuthID = authId;
  }

  ctx.log.info(
    { stateId: state.StateID, seq: state.SequenceNumber, manifestId, type: state.Type, numTickets: count.numTickets, nonce: state.SenderNonce, fee: fee.toFixed(0), balance: count.balanceAfter.toFixed(0) },
    "signed payment",
  );
  return {
    status: 200,
    body: {
      payment: encodeBase64("Payment", batch.payment),
      segCreds: encodeBase64("SegData", segCreds),
      state: signPaymentState(state, ctx.signer),
    },
  };
}

