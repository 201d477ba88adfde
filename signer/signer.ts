// The development remote signer: an HTTP(S) server speaking go-livepeer's remote signer protocol
// (sign-orchestrator-info, generate-live-payment, discover-orchestrators) with a real key, so a
// gateway's paid paths run end to end without ETH. Routes are few and exact, so this is plain
// node:http: Go's mux semantics (405 on a known path with another method, empty bodies accepted
// whatever the content type) are easier to keep than to configure away.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import ipaddr from "ipaddr.js";
import type { Logger } from "../core/log.ts";
import { readRequestBody, RequestBodyTooLargeError } from "../core/request-body.ts";
import { checksumAddress, toHex0x } from "../protocol/payments/address.ts";
import { signOrchestratorRequest } from "../protocol/payments/orchestrator-request-sig.ts";
import { byocJobSigningRefusal, jobSignedMessage } from "../protocol/apps/byoc.ts";
import { secretKeySigner, type MessageSigner } from "../protocol/payments/personal-sign.ts";
import type { Rational } from "../protocol/payments/rational.ts";
import { decodeMessage } from "../protocol/messages.ts";
import {
  DISCOVER_ORCHESTRATORS_PATH,
  GENERATE_LIVE_PAYMENT_PATH,
  ORCHESTRATOR_URL_HEADER,
  SIGN_BYOC_JOB_PATH,
  SIGN_ORCHESTRATOR_INFO_PATH,
  signerErrorBody,
} from "../protocol/payments/remote-signer-wire.ts";
import type { SenderLimits } from "../protocol/payments/ticket-params.ts";
import { selfSignedCertificate } from "../protocol/tls.ts";
import type { AuthWebhook } from "./auth-webhook.ts";
import { OrchestratorDiscovery } from "./discovery.ts";
import { FAULT_STATUS_MESSAGES, FaultPlan } from "./faults.ts";
import { loadOrCreateSignerKey } from "./key-file.ts";
import { generateLivePayment, type LivePaymentContext, type SignerAnswer } from "./live-payment.ts";

export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
export const FAULTS_PATH = "/wharf/faults";
export const EXIT_PATH = "/wharf/exit";

export interface SignerOptions {
  port?: number;
  host?: string;
  /** Plaintext HTTP (go-livepeer's signer is plaintext); default is HTTPS with a self-signed certificate. */
  http?: boolean;
  dataDir: string;
  limits: SenderLimits;
  lastSeenL1Block?: bigint;
  /** Seconds the first lv2v payment prepays (default go-livepeer's 60; tests shorten it). */
  lv2vPrepaidSeconds?: number;
  configuredMaxPrice?: Rational;
  authWebhook?: AuthWebhook;
  /** Serve without an auth webhook on a non-loopback host (anyone reaching it can spend the key's money). */
  allowNoAuth?: boolean;
  orchestrators?: readonly string[];
  discoveryIntervalMs?: number;
  /** Enable POST /wharf/faults and /wharf/exit. */
  faults?: boolean;
  onExitRequested?: () => void;
  now?: () => number;
  log: Logger;
}

export interface RunningSigner {
  url: string;
  /** EIP-55 checksummed address of the signing key (the ticket sender). */
  address: string;
  close(): Promise<void>;
}

export class SignerConfigError extends Error {}

export function isLoopbackHost(host: string): boolean {
  if (host === "localhost") return true;
  const h = host.replace(/^\[|\]$/g, "");
  return ipaddr.isValid(h) && ipaddr.process(h).range() === "loopback";
}

function send(res: ServerResponse, answer: SignerAnswer): void {
  // go's json.Encoder ends every body with a newline.
  const body = `${JSON.stringify(answer.body)}\n`;
  res.writeHead(answer.status, { "content-type": "application/json", ...(answer.headers ?? {}) });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<string> {
  return (await readRequestBody(req, MAX_REQUEST_BODY_BYTES)).toString("utf8");
}

/** The orchestrator URL to name in a 480 header, from a payment request body (best effort). */
function transcoderOf(raw: string): string {
  try {
    const orch = (JSON.parse(raw) as { orchestrator?: unknown }).orchestrator;
    return typeof orch === "string" ? (decodeMessage("OrchestratorInfo", Buffer.from(orch, "base64")).transcoder ?? "") : "";
  } catch {
    return "";
  }
}

export async function startSigner(opts: SignerOptions): Promise<RunningSigner> {
  const host = opts.host ?? "127.0.0.1";
  if (!isLoopbackHost(host) && !opts.authWebhook && !opts.allowNoAuth) {
    throw new SignerConfigError(
      `refusing to listen on ${host} without --webhook: anyone who reaches it could spend this key's deposit. ` +
        "Set --webhook URL, or pass --allow-no-auth and restrict access yourself.",
    );
  }
  const log = opts.log;
  const key = await loadOrCreateSignerKey(opts.dataDir);
  if (key.created) log.info({ path: key.path }, "created a new signer key");
  if (key.tightenedMode !== undefined) log.warn({ path: key.path, mode: key.tightenedMode.toString(8) }, "signer key file was readable by others: mode set to 0600");
  const signer: MessageSigner = secretKeySigner(key.secretKey);
  key.secretKey.fill(0);
  const address = checksumAddress(signer.address);
  const infoSignature = { address, signature: toHex0x(signOrchestratorRequest(signer)) };
  if (!opts.authWebhook && !isLoopbackHost(host)) log.warn("no auth webhook: /generate-live-payment signs for any caller that reaches this address");

  const ctx: LivePaymentContext = {
    signer,
    limits: opts.limits,
    lastSeenL1Block: opts.lastSeenL1Block ?? 0n,
    lv2vPrepaidSeconds: opts.lv2vPrepaidSeconds,
    configuredMaxPrice: opts.configuredMaxPrice,
    authWebhook: opts.authWebhook,
    now: opts.now ?? Date.now,
    log,
  };
  const faults = opts.faults ? new FaultPlan() : undefined;
  const discovery = opts.orchestrators?.length
    ? new OrchestratorDiscovery({ orchestrators: opts.orchestrators, signer, intervalMs: opts.discoveryIntervalMs, maxPrice: opts.configuredMaxPrice, log })
    : undefined;

  const routes: Record<string, { method: string; handle: (req: IncomingMessage, url: URL) => Promise<SignerAnswer> }> = {
    [SIGN_ORCHESTRATOR_INFO_PATH]: { method: "POST", handle: async () => ({ status: 200, body: infoSignature }) },
    [SIGN_BYOC_JOB_PATH]: {
      method: "POST",
      handle: async (req) => {
        // A signed job spends this sender's balance at the orchestrator, as tickets do; the auth
        // webhook's contract covers payments only, so behind one the signer signs no jobs.
        if (opts.authWebhook) return { status: 403, body: signerErrorBody("BYOC job signing is off behind an auth webhook") };
        let body: { request?: unknown; parameters?: unknown };
        try {
          body = JSON.parse(await readBody(req)) as typeof body;
        } catch {
          return { status: 400, body: signerErrorBody("expected JSON") };
        }
        const refusal = byocJobSigningRefusal(body?.request, body?.parameters);
        if (refusal) return { status: 400, body: signerErrorBody(refusal) };
        return { status: 200, body: { address, signature: toHex0x(signer.sign(jobSignedMessage(body.request as string, body.parameters as string))) } };
      },
    },
    [GENERATE_LIVE_PAYMENT_PATH]: {
      method: "POST",
      handle: async (req) => {
        const raw = await readBody(req);
        const fault = faults?.take();
        if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
        if (fault?.status) {
          const headers = fault.status === 480 ? { [ORCHESTRATOR_URL_HEADER]: transcoderOf(raw) } : undefined;
          return { status: fault.status, body: signerErrorBody(FAULT_STATUS_MESSAGES[fault.status] ?? "injected fault"), headers };
        }
        return generateLivePayment(ctx, raw, req.headersDistinct as Record<string, string[]>);
      },
    },
    [DISCOVER_ORCHESTRATORS_PATH]: {
      method: "GET",
      handle: async (_req, url) => {
        if (!discovery) return { status: 404, body: signerErrorBody("discovery is off: start the signer with --orchestrators url,url") };
        const list = discovery.list(url.searchParams.getAll("caps"));
        if (!list) return { status: 503, body: signerErrorBody("no orchestrator has answered GetOrchestrator yet") };
        return { status: 200, body: list };
      },
    },
  };
  if (faults) {
    routes[FAULTS_PATH] = {
      method: "POST",
      handle: async (req) => {
        let body: unknown;
        try {
          body = JSON.parse(await readBody(req));
        } catch {
          return { status: 400, body: signerErrorBody("expected JSON") };
        }
        const err = faults.arm(body);
        return err ? { status: 400, body: signerErrorBody(err) } : { status: 200, body: { armed: body } };
      },
    };
    routes[`${FAULTS_PATH}/remaining`] = { method: "GET", handle: async () => ({ status: 200, body: { remaining: faults.left } }) };
    routes[EXIT_PATH] = {
      method: "POST",
      handle: async () => {
        setTimeout(() => (opts.onExitRequested ?? (() => process.exit(3)))(), 20);
        return { status: 200, body: { exiting: true } };
      },
    };
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://signer");
    const route = routes[url.pathname];
    if (!route) return send(res, { status: 404, body: signerErrorBody(`no route ${url.pathname}`) });
    if (req.method !== route.method) return send(res, { status: 405, body: signerErrorBody(`${url.pathname} takes ${route.method}`), headers: { allow: route.method } });
    route.handle(req, url).then(
      (answer) => send(res, answer),
      (err: unknown) => {
        if (err instanceof RequestBodyTooLargeError) return send(res, { status: 413, body: signerErrorBody(`request body over ${MAX_REQUEST_BODY_BYTES} bytes`), headers: { connection: "close" } });
        log.error({ path: url.pathname, err: (err as Error).message }, "signer request failed");
        if (!res.headersSent) send(res, { status: 500, body: signerErrorBody((err as Error).message) });
      },
    );
  };

  const secure = !opts.http;
  let server: Server;
  if (secure) {
    const cert = await selfSignedCertificate({ hosts: ["localhost", "127.0.0.1", "::1", ...(isLoopbackHost(host) || host === "0.0.0.0" || host === "::" ? [] : [host])] });
    server = createHttpsServer({ key: cert.key, cert: cert.cert }, onRequest);
  } else {
    server = createHttpServer(onRequest);
  }
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const url = `${secure ? "https" : "http"}://${shownHost}:${port}`;
  discovery?.start();
  log.info({ url, address, discovery: opts.orchestrators?.length ?? 0, webhook: Boolean(opts.authWebhook), faults: Boolean(faults) }, "development remote signer listening");

  return {
    url,
    address,
    close: async () => {
      await discovery?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
