// The gateway's client of a remote signer (go-livepeer -remoteSignerUrl / -remoteSignerHeaders):
// signs the OrchestratorRequest, buys tickets per payment cycle, lists orchestrators. Every call
// carries the configured headers (credentials: never logged, never put in an error), has a bounded
// timeout and a bounded response size, and its JSON is checked before anyone uses it.
import { request, type Dispatcher } from "undici";
import { encodeMessage, type Capabilities, type OrchestratorInfo } from "../messages.ts";
import { toHex0x } from "./address.ts";
import {
  DISCOVER_ORCHESTRATORS_PATH,
  GENERATE_LIVE_PAYMENT_PATH,
  ORCHESTRATOR_URL_HEADER,
  parseDiscoveredOrchestrators,
  parseOrchestratorInfoSignature,
  parseRemotePaymentResponse,
  SIGN_BYOC_JOB_PATH,
  SIGN_ORCHESTRATOR_INFO_PATH,
  signerErrorMessage,
  STATUS_NO_TICKETS,
  STATUS_PRICE_EXCEEDED,
  STATUS_REFRESH_SESSION,
  WireShapeError,
  type DiscoveredOrchestrator,
  type MaxPrice,
  type OrchestratorInfoSignature,
  type PaymentType,
  type RemotePaymentRequestBody,
  type SignerState,
} from "./remote-signer-wire.ts";

export const DEFAULT_SIGNER_TIMEOUT_MS = 10_000;
/** A payment answer is a few KB (100 tickets ~ 10 KB); a discovery list a few hundred KB at most. */
export const DEFAULT_SIGNER_MAX_RESPONSE_BYTES = 1024 * 1024;
/** How much of a signer's error message is kept in our errors. */
const ERROR_MESSAGE_MAX_CHARS = 300;

export interface RemoteSignerClientOptions {
  /** Signer base URL; `host:port` means https (as go-livepeer). Any path is ignored: endpoints are at the root. */
  url: string;
  /** Sent on every call (e.g. an API key). */
  headers?: Readonly<Record<string, string>>;
  /** Whole-call deadline (connect + answer), default 10 s. */
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** undici dispatcher, e.g. one that accepts a development signer's self-signed certificate. */
  dispatcher?: Dispatcher;
}

export type RemoteSignerFailure =
  /** Connection refused, DNS, TLS: the signer cannot be reached. */
  | "unreachable"
  | "timeout"
  /** An unexpected HTTP status (the message carries the signer's error text). */
  | "status"
  /** The answer is not what the protocol promises (shape, size, encoding). */
  | "bad-response";

export class RemoteSignerError extends Error {
  constructor(
    message: string,
    readonly failure: RemoteSignerFailure,
    readonly status?: number,
  ) {
    super(message);
    this.name = "RemoteSignerError";
  }
}

export interface LivePaymentRequest {
  /** The OrchestratorInfo to pay (must carry price_info and ticket_params), or its protobuf bytes. */
  orchestrator: OrchestratorInfo | Uint8Array;
  /** The state of the previous successful answer; absent on a session's first call. */
  state?: SignerState;
  /** The orchestrator's manifest_id; required once there is a state. */
  manifestId?: string;
  type: PaymentType;
  /** Pixels to pay for when type is "". */
  inPixels?: number;
  capabilities?: Capabilities | Uint8Array;
  app?: string;
  maxPrice?: MaxPrice;
}

export type LivePaymentResult =
  | {
      kind: "Paid";
      /** `Livepeer-Payment` header value. */
      payment: string;
      /** `Livepeer-Segment` header value ("" when the signer sent none). */
      segCreds: string;
      /** Keep it for the next call. */
      state: SignerState;
    }
  /** 480: call GetOrchestrator on `orchestratorUrl` again and retry with the fresh info (go: at most 3 in a row). */
  | { kind: "RefreshSession"; orchestratorUrl: string; message: string }
  /** 481: this orchestrator costs more than a ceiling: choose another. */
  | { kind: "PriceTooHigh"; message: string }
  /** 482: the credit covers this cycle; send nothing and keep the state you have. */
  | { kind: "NoTicketsNeeded"; message: string };

/** Normalize a signer URL to its origin (`https://` when no scheme). */
export function signerOrigin(url: string): string {
  const trimmed = url.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new Error(`remote signer URL "${url}" is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`remote signer URL "${url}": only http and https`);
  return u.origin;
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export class RemoteSignerClient {
  readonly origin: string;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly dispatcher?: Dispatcher;

  constructor(opts: RemoteSignerClientOptions) {
    this.origin = signerOrigin(opts.url);
    this.headers = { ...(opts.headers ?? {}) };
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_SIGNER_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_SIGNER_MAX_RESPONSE_BYTES;
    this.dispatcher = opts.dispatcher;
  }

  /** The signer's address and its signature for OrchestratorRequest{address, sig}. Call once per process. */
  async signOrchestratorInfo(signal?: AbortSignal): Promise<OrchestratorInfoSignature> {
    const res = await this.call("POST", SIGN_ORCHESTRATOR_INFO_PATH, {}, signal);
    if (res.status !== 200) throw this.statusError(SIGN_ORCHESTRATOR_INFO_PATH, res);
    return this.shape(SIGN_ORCHESTRATOR_INFO_PATH, () => parseOrchestratorInfoSignature(res.body));
  }

  /**
   * The signature of a BYOC job (Wharf's signer only: go-livepeer's answers 404, a RemoteSignerError
   * with status 404). `signature` is 0x-hex, as the job header carries it.
   */
  async signByocJob(request: string, parameters: string, signal?: AbortSignal): Promise<{ address: string; signature: string }> {
    const res = await this.call("POST", SIGN_BYOC_JOB_PATH, { request, parameters }, signal);
    if (res.status !== 200) throw this.statusError(SIGN_BYOC_JOB_PATH, res);
    return this.shape(SIGN_BYOC_JOB_PATH, () => {
      const s = parseOrchestratorInfoSignature(res.body);
      return { address: s.addressText, signature: toHex0x(s.signature) };
    });
  }

  /** Tickets for one payment cycle. 480/481/482 are results, not errors; anything else unexpected throws RemoteSignerError. */
  async generateLivePayment(req: LivePaymentRequest, signal?: AbortSignal): Promise<LivePaymentResult> {
    const orch = req.orchestrator instanceof Uint8Array ? req.orchestrator : encodeMessage("OrchestratorInfo", req.orchestrator);
    const body: RemotePaymentRequestBody = { orchestrator: b64(orch), type: req.type };
    if (req.state) body.state = req.state;
    if (req.manifestId) body.ManifestID = req.manifestId;
    if (req.inPixels !== undefined) body.inPixels = req.inPixels;
    if (req.capabilities) body.capabilities = b64(req.capabilities instanceof Uint8Array ? req.capabilities : encodeMessage("Capabilities", req.capabilities));
    if (req.app) body.app = req.app;
    if (req.maxPrice) body.maxPrice = req.maxPrice;
    const res = await this.call("POST", GENERATE_LIVE_PAYMENT_PATH, body, signal);
    const message = signerErrorMessage(res.body)?.slice(0, ERROR_MESSAGE_MAX_CHARS) ?? "";
    switch (res.status) {
      case 200: {
        const ok = this.shape(GENERATE_LIVE_PAYMENT_PATH, () => parseRemotePaymentResponse(res.body));
        return { kind: "Paid", payment: ok.payment, segCreds: ok.segCreds ?? "", state: ok.state };
      }
      case STATUS_REFRESH_SESSION: {
        const fallback = req.orchestrator instanceof Uint8Array ? "" : (req.orchestrator.transcoder ?? "");
        return { kind: "RefreshSession", orchestratorUrl: res.orchestratorUrl || fallback, message };
      }
      case STATUS_PRICE_EXCEEDED:
        return { kind: "PriceTooHigh", message };
      case STATUS_NO_TICKETS:
        return { kind: "NoTicketsNeeded", message };
      default:
        throw this.statusError(GENERATE_LIVE_PAYMENT_PATH, res);
    }
  }

  /** Orchestrators the signer knows, optionally those with any of `caps` ("<pipeline>/<model>"). 503 until its first snapshot. */
  async discoverOrchestrators(caps: readonly string[] = [], signal?: AbortSignal): Promise<DiscoveredOrchestrator[]> {
    // The Python SDK keeps "/" unescaped in caps; both forms decode the same on the server.
    const query = caps.filter((c) => c !== "").map((c) => `caps=${encodeURIComponent(c).replace(/%2F/gi, "/")}`).join("&");
    const path = query ? `${DISCOVER_ORCHESTRATORS_PATH}?${query}` : DISCOVER_ORCHESTRATORS_PATH;
    const res = await this.call("GET", path, undefined, signal);
    if (res.status !== 200) throw this.statusError(DISCOVER_ORCHESTRATORS_PATH, res);
    return this.shape(DISCOVER_ORCHESTRATORS_PATH, () => parseDiscoveredOrchestrators(res.body));
  }

  private statusError(path: string, res: { status: number; body: unknown }): RemoteSignerError {
    const message = signerErrorMessage(res.body)?.slice(0, ERROR_MESSAGE_MAX_CHARS);
    return new RemoteSignerError(`remote signer ${this.origin}${path} answered ${res.status}${message ? `: ${message}` : ""}`, "status", res.status);
  }

  private shape<T>(path: string, parse: () => T): T {
    try {
      return parse();
    } catch (err) {
      if (err instanceof WireShapeError) throw new RemoteSignerError(`remote signer ${this.origin}${path}: ${err.message}`, "bad-response");
      throw err;
    }
  }

  private async call(method: "GET" | "POST", path: string, json: unknown, signal?: AbortSignal): Promise<{ status: number; body: unknown; orchestratorUrl: string }> {
    const where = `remote signer ${this.origin}${path.split("?")[0]}`;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const headers: Record<string, string> = { accept: "application/json", ...this.headers };
    if (json !== undefined) headers["content-type"] = "application/json";
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${this.origin}${path}`, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: combined,
        dispatcher: this.dispatcher,
      });
    } catch (err) {
      if (timeout.aborted) throw new RemoteSignerError(`${where}: no answer within ${this.timeoutMs} ms`, "timeout");
      if (signal?.aborted) throw err;
      throw new RemoteSignerError(`${where} unreachable: ${describeNetworkError(err)}`, "unreachable");
    }
    let text: string;
    try {
      text = await this.readLimited(res.body, where);
    } catch (err) {
      if (err instanceof RemoteSignerError) throw err;
      if (timeout.aborted) throw new RemoteSignerError(`${where}: answer not complete within ${this.timeoutMs} ms`, "timeout");
      if (signal?.aborted) throw err;
      throw new RemoteSignerError(`${where}: answer broken off: ${describeNetworkError(err)}`, "unreachable");
    }
    let body: unknown = undefined;
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        if (res.statusCode === 200) throw new RemoteSignerError(`${where}: answer is not JSON`, "bad-response");
      }
    }
    const urlHeader = res.headers[ORCHESTRATOR_URL_HEADER.toLowerCase()];
    return { status: res.statusCode, body, orchestratorUrl: (Array.isArray(urlHeader) ? urlHeader[0] : urlHeader) ?? "" };
  }

  private async readLimited(body: Dispatcher.ResponseData["body"], where: string): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > this.maxResponseBytes) {
        body.destroy();
        throw new RemoteSignerError(`${where}: answer larger than ${this.maxResponseBytes} bytes`, "bad-response");
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString("utf8");
  }
}

function describeNetworkError(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const message = e.cause?.message ?? e.message ?? String(err);
  return code && !message.includes(code) ? `${code} ${message}` : message;
}
