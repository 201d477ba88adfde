// The development orchestrator: gRPC + HTTP(S) on one port, like go-livepeer.
// `startOrchestrator(opts)` runs it in-process (tests, `npm start`);
// orchestrator/main.ts is the CLI around it.
import * as grpc from "@grpc/grpc-js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { moduleLogger, type Logger } from "../core/log.ts";
import { Capability } from "../protocol/capabilities.ts";
import { GrpcStatusError } from "../protocol/grpc-service.ts";
import { DecodeError, encodeMessage, type OrchestratorInfo, type Payment, type SegData, type TranscodeResult } from "../protocol/messages.ts";
import { createProtocolServer, type ProtocolServer } from "../protocol/orchestrator-server.ts";
import { addressFromBytes, checksumAddress } from "../protocol/payments/address.ts";
import { orchestratorRequestSigValid } from "../protocol/payments/orchestrator-request-sig.ts";
import { profilesFromSegData } from "../protocol/profiles.ts";
import { keccak256, parseSegmentHeader, SEGMENT_HEADER } from "../protocol/segment-header.ts";
import { selfSignedCertificate } from "../protocol/tls.ts";
import { AuthTokenStore, DEFAULT_TOKEN_TTL_MS } from "./auth-tokens.ts";
import type { CredentialCheck, FeatureContext, InfoRequest, OrchestratorFeature, OrchestratorKnobs, Price, WorkPayment } from "./feature.ts";
import { BlobStore } from "./blob-store.ts";
import { PaymentGate } from "./payments/gate.ts";
import { Payee, type PaymentsView } from "./payments/payee.ts";
import { SessionTable } from "./sessions.ts";
import { AdvertisedOffer, ORCHESTRATOR_VERSION, priceInfo as advertisedPriceInfo, type CapabilityPriceOption } from "./advertised-offer.ts";
import { transcodeSegment } from "./transcode.ts";
import { prepareConfigure } from "./control.ts";

/** go-livepeer orchestrators listen on 8935, but so does Wharf on a laptop: the dev orchestrator takes the next port. */
export const DEFAULT_DEV_ORCHESTRATOR_PORT = 8936;

export { ORCHESTRATOR_VERSION, type CapabilityPriceOption };

export interface OrchestratorOptions {
  /** Listen port (0 = any free port; default DEFAULT_DEV_ORCHESTRATOR_PORT, beside Wharf's 8935). */
  port?: number;
  /** Listen host (default 127.0.0.1). */
  host?: string;
  /** Plaintext (h2c gRPC + HTTP/1.1) instead of TLS with a self-signed certificate. */
  http?: boolean;
  /** Advertised service URL (OrchestratorInfo.transcoder); default scheme://host:port. */
  serviceUrl?: string;
  /** Transcoding price: wei per pixelsPerUnit pixels (default 0 / 1). */
  pricePerUnit?: number;
  pixelsPerUnit?: number;
  /** Max concurrent transcoding sessions (default 10). */
  capacity?: number;
  /** Informational region label (GET /wharf/status). */
  region?: string;
  latencyMs?: number;
  failRate?: number;
  /** Die (stop abruptly) after serving this many segments. */
  exitAfterSegments?: number;
  /** Per-capability / per-model prices (override what features advertise). */
  capabilityPrices?: CapabilityPriceOption[];
  features?: OrchestratorFeature[];
  tokenTtlMs?: number;
  sessionIdleTimeoutMs?: number;
  renditionTtlMs?: number;
  /** x264 preset for transcoding (default veryfast). */
  x264Preset?: string;
  /** Directory to cache the self-signed certificate in. */
  certDir?: string;
  logger?: Logger;
  /** Called when the orchestrator dies after exitAfterSegments (the CLI exits the process). */
  onDie?: () => void;
  /** Random source for failRate (tests). */
  random?: () => number;
  /**
   * Serve `POST /wharf/configure` (tests, demos): `{capacity?, latencyMs?, failRate?}` plus a
   * section per feature, keyed by its name (e.g. `"ai": {...}`).
   */
  control?: boolean;
  /**
   * Require payment like an on-chain go-livepeer orchestrator: GetOrchestrator checks the
   * sender's signature and answers ticket params; paid routes check and credit tickets, refuse
   * work the balance does not cover and debit it at the advertised price.
   */
  requirePayment?: boolean;
  /** Required EV per ticket in wei (go's -ticketEV, default 8000000000); face value = EV x 100. */
  ticketEV?: bigint;
}

/** The gRPC error go-livepeer answers when the OrchestratorRequest signature does not verify. */
export const ORCHESTRATOR_REQ_SIG_ERROR = "Invalid orchestrator request: orchestrator req sig check failed";

export interface OrchestratorStats {
  segments: number;
  busy: number;
  injectedFailures: number;
  transcodeErrors: number;
  activeSessions: number;
  tokensIssued: number;
}

export interface RunningOrchestrator {
  /** Address for a gateway's orchAddr (https://host:port or http://host:port). */
  readonly url: string;
  readonly serviceUrl: string;
  readonly port: number;
  readonly secure: boolean;
  /** SHA-256 fingerprint of the self-signed certificate (TLS only). */
  readonly certFingerprint256?: string;
  readonly knobs: OrchestratorKnobs;
  stats(): OrchestratorStats;
  /** Change knobs and capacity at runtime (tests, demos). */
  configure(changes: Partial<OrchestratorKnobs> & { capacity?: number }): void;
  /** The OrchestratorInfo GetOrchestrator would return now (issues a token). */
  info(request?: InfoRequest): OrchestratorInfo;
  /** The recipient address (EIP-55) when payment is required. */
  readonly recipient?: string;
  /** GET /wharf/payments. */
  payments(): PaymentsView | { required: false };
  /** Graceful stop: finish in-flight requests (up to graceMs), close features. */
  stop(graceMs?: number): Promise<void>;
  /** Abrupt stop: drop every connection now (simulates a crash). */
  kill(): Promise<void>;
  /** Resolves when stopped (stop, kill, or exitAfterSegments). */
  readonly stopped: Promise<void>;
}

export async function startOrchestrator(opts: OrchestratorOptions = {}): Promise<RunningOrchestrator> {
  const log = opts.logger ?? moduleLogger("dev-orchestrator");
  const host = opts.host ?? "127.0.0.1";
  const secure = !opts.http;
  const features = opts.features ?? [];
  const random = opts.random ?? Math.random;
  const knobs: OrchestratorKnobs = { latencyMs: opts.latencyMs ?? 0, failRate: opts.failRate ?? 0 };
  const tokens = new AuthTokenStore(opts.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS);
  const sessions = new SessionTable(opts.capacity ?? 10, opts.sessionIdleTimeoutMs ?? 60_000);
  const renditions = new BlobStore(opts.renditionTtlMs ?? 2 * 60 * 1000);
  const counters = { segments: 0, busy: 0, injectedFailures: 0, transcodeErrors: 0, tokensIssued: 0 };
  const transcodePrice: Price = { pricePerUnit: opts.pricePerUnit ?? 0, pixelsPerUnit: opts.pixelsPerUnit ?? 1 };
  if (!(transcodePrice.pixelsPerUnit > 0)) throw new Error("pixelsPerUnit must be > 0");
  if (!(knobs.failRate >= 0 && knobs.failRate <= 1)) throw new Error("failRate must be within 0..1");
  const payee = opts.requirePayment ? new Payee({ ticketEV: opts.ticketEV, log }) : undefined;
  const gate = new PaymentGate(payee);

  const cert = secure ? await selfSignedCertificate({ dir: opts.certDir, hosts: ["localhost", "127.0.0.1", "::1", ...(host !== "127.0.0.1" && host !== "0.0.0.0" ? [host] : [])] }) : undefined;
  let serviceUrl = "";

  const offer = new AdvertisedOffer({ features, log, capacity: () => sessions.capacity, capabilityPrices: opts.capabilityPrices ?? [], transcodePrice });

  const orchestratorInfo = (request: InfoRequest = {}): OrchestratorInfo => {
    const fcaps = offer.featureCaps();
    const prices = offer.buildPrices(fcaps);
    if (!request.authToken) counters.tokensIssued++;
    const authToken = request.authToken ?? tokens.issue();
    if (!payee) {
      return {
        transcoder: serviceUrl,
        ticketParams: {},
        priceInfo: advertisedPriceInfo(transcodePrice, 0),
        capabilities: offer.buildCapabilities(fcaps),
        authToken,
        capabilitiesPrices: prices,
        hardware: [],
        storage: [],
        nodes: [],
      };
    }
    // Ticket params are bound to the sender and the price they are paid at (both go into the rand).
    const sender = addressFromBytes(request.sender);
    const fixed = request.balanceKey !== undefined ? payee.fixedPrice(checksumAddress(sender), request.balanceKey) : undefined;
    const price = fixed ?? request.price ?? offer.priceForCapabilities(prices, request.capabilities);
    return {
      transcoder: serviceUrl,
      ticketParams: payee.ticketParams(sender, price),
      priceInfo: advertisedPriceInfo(price, 0),
      address: payee.address,
      capabilities: offer.buildCapabilities(fcaps),
      authToken,
      capabilitiesPrices: prices,
      hardware: [],
      storage: [],
      nodes: [],
    };
  };

  const acceptPayment: FeatureContext["acceptPayment"] = (req, reply, work) => {
    const price = work.price ?? offer.advertisedPrice(offer.buildPrices(offer.featureCaps()), work.capability, work.modelId) ?? { pricePerUnit: 0, pixelsPerUnit: 1 };
    return gate.accept(req, reply, work.balanceKey, price);
  };

  const applyKnobs = async (): Promise<boolean> => {
    if (knobs.latencyMs > 0) await new Promise((r) => setTimeout(r, knobs.latencyMs));
    if (knobs.failRate > 0 && random() < knobs.failRate) {
      counters.injectedFailures++;
      return true;
    }
    return false;
  };

  const checkCredentials = (header: string | string[] | undefined): CredentialCheck => {
    const value = Array.isArray(header) ? header[0] : header;
    if (!value) return { ok: false, status: 403, error: "missing_credentials", message: `missing ${SEGMENT_HEADER} header` };
    let seg: SegData;
    try {
      seg = parseSegmentHeader(value);
    } catch (err) {
      const msg = err instanceof DecodeError ? err.message : "undecodable";
      return { ok: false, status: 403, error: "invalid_credentials", message: `invalid ${SEGMENT_HEADER}: ${msg}` };
    }
    const t = tokens.check(seg.authToken);
    if (!t.ok) {
      const message = t.reason === "expired" ? "AuthToken Expired" : t.reason === "missing" ? "missing AuthToken" : "invalid AuthToken";
      return { ok: false, status: 403, error: "invalid_auth_token", message };
    }
    return { ok: true, segData: seg };
  };

  const requireCredentials = async (req: FastifyRequest, reply: FastifyReply): Promise<SegData | undefined> => {
    const c = checkCredentials(req.headers[SEGMENT_HEADER.toLowerCase()]);
    if (c.ok) return c.segData;
    await reply.code(c.status).type("application/json").send({ error: c.error, message: c.message });
    return undefined;
  };

  let die: (() => void) | undefined;

  const server: ProtocolServer = await createProtocolServer({
    tls: cert,
    logger: log,
    grpc: {
      getOrchestrator: async (req) => {
        if (knobs.latencyMs > 0) await new Promise((r) => setTimeout(r, knobs.latencyMs));
        if (!payee) return orchestratorInfo();
        // An on-chain orchestrator answers only senders that prove their address (go verifyOrchestratorReq).
        const sender = addressFromBytes(req.address);
        if (!orchestratorRequestSigValid(sender, req.sig ?? new Uint8Array(0))) {
          log.warn({ sender: checksumAddress(sender) }, "GetOrchestrator refused: orchestrator req sig check failed");
          throw new GrpcStatusError(grpc.status.UNKNOWN, ORCHESTRATOR_REQ_SIG_ERROR);
        }
        return orchestratorInfo({ sender, capabilities: req.capabilities });
      },
      endTranscodingSession: (req) => {
        const t = tokens.check(req.authToken);
        if (t.ok) sessions.endByToken(t.sessionId);
        return {};
      },
    },
  });
  const app: FastifyInstance = server.app;

  const ctx: FeatureContext = {
    get serviceUrl() {
      return serviceUrl;
    },
    log,
    knobs,
    tokens,
    checkCredentials,
    applyKnobs,
    orchestratorInfo,
    publicUrl: (path: string) => `${serviceUrl}${path.startsWith("/") ? path : `/${path}`}`,
    requireCredentials,
    paymentRequired: payee !== undefined,
    acceptPayment,
    payee,
    onUpgrade: (handler) => server.onUpgrade(handler),
  };

  // --- renditions and status
  app.get("/stream/*", async (req, reply) => {
    const path = req.url.split("?")[0]!;
    const it = renditions.get(path);
    if (!it) return reply.code(404).send({ error: "not_found", message: "rendition expired or unknown" });
    return reply.type(it.contentType).header("cache-control", "no-store").send(it.data);
  });
  app.get("/wharf/status", async () => ({
    version: ORCHESTRATOR_VERSION,
    region: opts.region ?? null,
    capacity: sessions.capacity,
    ...stats(),
    features: features.map((f) => f.name),
  }));

  const payments = (): PaymentsView | { required: false } => payee?.view() ?? { required: false };
  app.get("/wharf/payments", async () => payments());

  if (opts.control) {
    app.post("/wharf/configure", async (req, reply) => {
      const r = prepareConfigure(req.body, { configure, payee, features });
      if (typeof r === "string") return reply.code(400).send({ error: "invalid_configuration", message: r });
      for (const apply of r) apply();
      return { capacity: sessions.capacity, ...knobs };
    });
  }

  // --- POST /payment: off-chain, always fine (credentials checked when sent); paid: the tickets
  // are credited to the segment credentials' manifest id, the answer carries fresh ticket params
  // and the same auth token (go-livepeer lphttp.Payment).
  app.post("/payment", async (req, reply) => {
    if (!payee) {
      if (req.headers[SEGMENT_HEADER.toLowerCase()] !== undefined) {
        if (!(await requireCredentials(req, reply))) return reply;
      }
      return reply.type("application/octet-stream").send(encodeMessage("PaymentResult", { info: orchestratorInfo() }));
    }
    const payment = await gate.read(req, reply);
    if (!payment) return reply;
    const seg = await requireCredentials(req, reply);
    if (!seg) return reply;
    const manifestId = Buffer.from(seg.manifestId ?? new Uint8Array()).toString("utf8");
    if (!(await gate.credit(payment, reply, manifestId))) return reply;
    const info = orchestratorInfo({ sender: payment.sender, capabilities: seg.capabilities, authToken: seg.authToken, balanceKey: manifestId });
    return reply.type("application/octet-stream").send(encodeMessage("PaymentResult", { info }));
  });

  // --- POST /segment (encapsulated: raw body whatever the content type)
  await app.register(async (sub) => {
    sub.removeAllContentTypeParsers();
    sub.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: 64 * 1024 * 1024 }, (_req, body, done) => done(null, body));
    // Paid: the payment is read (402), the credentials checked (403), the tickets credited to the
    // auth token's session and the balance checked (400) before the upload is read, as go-livepeer.
    sub.addHook("onRequest", async (req, reply) => {
      const payment = payee ? await gate.read(req, reply) : undefined;
      if (payee && !payment) return reply;
      const c = checkCredentials(req.headers[SEGMENT_HEADER.toLowerCase()]);
      if (!c.ok) return reply.code(c.status).type("application/json").send({ error: c.error, message: c.message });
      const r = req as PaidSegmentRequest;
      r.segData = c.segData;
      if (payment) {
        const work = await gate.admit(payment, reply, c.segData.authToken?.sessionId ?? "", transcodePrice);
        if (!work) return reply;
        r.payment = payment;
        r.work = work;
      }
    });
    sub.post("/segment", async (req, reply) => {
      const { segData: seg, payment, work } = req as PaidSegmentRequest & { segData: SegData };
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const seq = seg.seq ?? 0;
      const manifestId = Buffer.from(seg.manifestId ?? new Uint8Array()).toString("utf8");
      if (body.length === 0) return reply.code(400).send({ error: "empty_segment", message: "segment body is empty" });
      if (seg.hash && seg.hash.length > 0 && !keccak256(body).equals(Buffer.from(seg.hash))) {
        return reply.code(400).send({ error: "hash_mismatch", message: "SegData.hash is not keccak-256 of the body" });
      }
      if (await applyKnobs()) return reply.code(500).type("text/plain").send("injected failure");

      // Paid: fresh ticket params for the next segment, the same auth token (go ServeSegment).
      const paidInfo = (): Pick<TranscodeResult, "info"> =>
        payment ? { info: orchestratorInfo({ sender: payment.sender, authToken: seg.authToken, balanceKey: seg.authToken?.sessionId ?? "" }) } : {};
      const sendResult = (r: TranscodeResult) => {
        const raw = reply.raw;
        if (!raw.headersSent) raw.writeHead(200, { "content-type": "application/octet-stream" });
        raw.end(encodeMessage("TranscodeResult", r));
      };
      reply.hijack();
      const tokenCheck = tokens.check(seg.authToken);
      if (!sessions.admit(manifestId, tokenCheck.ok ? tokenCheck.sessionId : "")) {
        counters.busy++;
        sendResult({ seq, error: "OrchestratorBusy", ...paidInfo() });
        return;
      }
      // 200 early: the upload is accepted, the result body follows when transcoding ends.
      reply.raw.writeHead(200, { "content-type": "application/octet-stream" });
      reply.raw.flushHeaders();
      const profiles = profilesFromSegData(seg);
      try {
        const outs = await transcodeSegment(body, profiles, { preset: opts.x264Preset, durationMs: seg.duration || 2000 });
        const segments = outs.map((o, i) => ({
          url: ctx.publicUrl(renditions.put(`${seq}_${i}_${o.profile.name || `${o.profile.width}x${o.profile.height}`}.ts`, o.data)),
          pixels: o.pixels,
        }));
        // Debited by the output pixels of the renditions (go: DebitFees(Σ encoded pixels)).
        work?.debit(outs.reduce((n, o) => n + o.pixels, 0));
        sendResult({ seq, data: { segments, sig: Buffer.alloc(0) }, ...paidInfo() });
      } catch (err) {
        counters.transcodeErrors++;
        log.warn({ seq, manifestId, err: (err as Error).message }, "transcode failed");
        sendResult({ seq, error: `transcode failed: ${(err as Error).message}`.slice(0, 500), ...paidInfo() });
      }
      counters.segments++;
      if (opts.exitAfterSegments !== undefined && counters.segments >= opts.exitAfterSegments) {
        log.warn({ segments: counters.segments }, "exit-after-segments reached: dying");
        setTimeout(() => die?.(), 20);
      }
    });
  });

  for (const f of features) {
    await f.register(app, ctx);
    log.debug({ feature: f.name }, "feature registered");
  }

  const port = await server.listen(opts.port ?? DEFAULT_DEV_ORCHESTRATOR_PORT, host);
  const advertisedHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const url = `${secure ? "https" : "http"}://${advertisedHost}:${port}`;
  serviceUrl = (opts.serviceUrl ?? url).replace(/\/+$/, "");
  log.info({ url, serviceUrl, secure, features: features.map((f) => f.name) }, "development orchestrator listening");

  const stats = (): OrchestratorStats => ({ ...counters, activeSessions: sessions.active });

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs: number): Promise<void> => {
    stopping ??= (async () => {
      await server.close(graceMs);
      for (const f of features) {
        try {
          await f.close?.();
        } catch (err) {
          log.warn({ feature: f.name, err: (err as Error).message }, "feature close failed");
        }
      }
      renditions.close();
      resolveStopped();
    })();
    return stopping;
  };
  die = () => {
    void shutdown(0).then(() => opts.onDie?.());
  };

  function configure(changes: Partial<OrchestratorKnobs> & { capacity?: number }): void {
    if (changes.latencyMs !== undefined) knobs.latencyMs = changes.latencyMs;
    if (changes.failRate !== undefined) knobs.failRate = changes.failRate;
    if (changes.capacity !== undefined) sessions.capacity = changes.capacity;
  }

  return {
    url,
    serviceUrl,
    port,
    secure,
    certFingerprint256: cert?.fingerprint256,
    knobs,
    stats,
    configure,
    info: orchestratorInfo,
    recipient: payee?.addressText,
    payments,
    stop: (graceMs = 2000) => shutdown(graceMs),
    kill: () => shutdown(0),
    stopped,
  };
}

/** A /segment request once its onRequest hook passed: credentials, and when paid the payment and its admission. */
type PaidSegmentRequest = FastifyRequest & { segData?: SegData; payment?: Payment; work?: WorkPayment };

export { Capability };
