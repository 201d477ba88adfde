// The plugin contract of the development orchestrator. Feature modules
// (orchestrator/ai, orchestrator/live, ...) advertise capabilities, models,
// capacity and prices through `capabilities()` (called for every
// GetOrchestrator, so live numbers are fine) and add HTTP routes in `register`.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../core/log.ts";
import type { AuthToken, Capabilities, OrchestratorInfo, Payment, SegData, TicketParams } from "../protocol/messages.ts";
import type { AuthTokenStore } from "./auth-tokens.ts";
import type { Rational } from "../protocol/payments/rational.ts";

export interface Price {
  /** Wei per unit. */
  pricePerUnit: number;
  pixelsPerUnit: number;
}

export interface FeatureModel {
  warm: boolean;
  /** Max concurrent requests for this model. */
  capacity: number;
  /** Requests in flight now (ModelConstraint.capacityInUse). */
  capacityInUse?: number;
  runnerVersion?: string;
  /** Per-model price (PriceInfo with constraint = model id). */
  price?: Price;
}

export interface FeatureCapability {
  /** Capability id (protocol/capabilities.ts `Capability`). */
  capability: number;
  /** Advertised in Capabilities.capacities. */
  capacity: number;
  /** Models, keyed by model id (Capabilities.constraints.PerCapability[cap].models). */
  models?: Record<string, FeatureModel>;
  /** Capability-wide price (PriceInfo with empty constraint). */
  price?: Price;
}

/** Test/demo knobs, shared by every feature. */
export interface OrchestratorKnobs {
  /** Added latency (ms) before answering each request. */
  latencyMs: number;
  /** Probability (0..1) of failing a request. */
  failRate: number;
}

export type CredentialCheck =
  | { ok: true; segData: SegData }
  | { ok: false; status: 400 | 403; error: string; message: string };

/** A request's payment once admitted (`FeatureContext.acceptPayment`): who pays, under which key, at what price. */
export interface WorkPayment {
  /** The paying sender, EIP-55 (the zero address for an empty payment). */
  readonly sender: string;
  readonly balanceKey: string;
  /** The advertised price the work is debited at. */
  readonly price: Price;
  /** Debit `units` of work once it is done (the balance may go negative). A no-op without --require-payment. */
  debit(units: number): void;
  /**
   * Debit `units` only when the balance covers them (live sessions): undefined when debited, else
   * the fee and the balance in whole wei (nothing debited). Always undefined without --require-payment.
   */
  debitIfCovered(units: number): { fee: string; balance: string } | undefined;
}

/** The work a payment is for. */
export interface PaidWork {
  /** go-livepeer's balance key: "<capability>_<model>" for batch AI, the manifest id for a live session. */
  balanceKey: string;
  /** Capability and model whose advertised price the work is debited at. */
  capability: number;
  modelId: string;
  /** Debit at this price instead of the capability's advertised one (app runners price themselves). */
  price?: Price;
}

/** For whom an OrchestratorInfo is made (ticket params are bound to a sender and a price). */
export interface InfoRequest {
  /** The sender (20 bytes) the ticket params are for. */
  sender?: Uint8Array;
  /** Capabilities asked for: the price is the sum of their models' prices (go's PriceInfoForCaps). */
  capabilities?: Capabilities;
  /** Keep this auth token instead of issuing one (PaymentResult, TranscodeResult). */
  authToken?: AuthToken;
  /** A balance key whose session price was fixed by its first payment. */
  balanceKey?: string;
  /** Quote this price instead of the capabilities' (an app runner's price per unit). */
  price?: Price;
}

/** What a feature may do with the payee directly (payments/payee.ts). */
export interface FeaturePayee {
  /** Fresh ticket parameters for a sender (20 bytes) at a price. */
  ticketParams(sender: Uint8Array, price: Price): TicketParams;
  /** Credit a payment's good tickets to (its sender, balanceKey). */
  receive(payment: Payment, balanceKey: string): { error?: string };
  debit(sender: string, balanceKey: string, fee: Rational): void;
  readonly balances: { balance(sender: string, key: string): Rational; insufficient(sender: string, key: string): void };
}

export interface FeatureContext {
  /** Advertised service URL (OrchestratorInfo.transcoder), no trailing slash. */
  readonly serviceUrl: string;
  readonly log: Logger;
  readonly knobs: OrchestratorKnobs;
  readonly tokens: AuthTokenStore;
  /** Parse and verify a `Livepeer-Segment` header value (decodable, auth token known and unexpired). */
  checkCredentials(segmentHeader: string | string[] | undefined): CredentialCheck;
  /**
   * Apply the knobs for one request: wait `latencyMs`, then roll `failRate`.
   * Returns true when this request must fail (the feature chooses how).
   */
  applyKnobs(): Promise<boolean>;
  /** The current OrchestratorInfo (e.g. for PaymentResult / TranscodeResult.info). */
  orchestratorInfo(request?: InfoRequest): OrchestratorInfo;
  /** Whether the orchestrator requires payment (--require-payment). */
  readonly paymentRequired: boolean;
  /**
   * Take the request's `Livepeer-Payment` for `work`: credit its good tickets to (sender, balance
   * key), then refuse work the balance does not cover as go-livepeer does. On refusal it replies
   * (402 undecodable header; 400 with go's text for a refused ticket; 400 "Insufficient balance"
   * when the price is not 0 and the balance holds less than one ticket EV) and returns undefined.
   * Without --require-payment every request is admitted and debits are no-ops.
   */
  acceptPayment(req: FastifyRequest, reply: FastifyReply, work: PaidWork): Promise<WorkPayment | undefined>;
  /** The payee (--require-payment), for work with rules of its own (BYOC jobs: orchestrator/apps/byoc.ts). */
  readonly payee: FeaturePayee | undefined;

  /** Absolute URL on this orchestrator for a path ("/stream/x" -> "https://host:port/stream/x"). */
  publicUrl(path: string): string;
  /**
   * Hook to check credentials inside a fastify preHandler: replies 403/400 with a
   * JSON error and returns undefined on failure, else the SegData.
   */
  requireCredentials(req: FastifyRequest, reply: FastifyReply): Promise<SegData | undefined>;
  /** Take HTTP/1.1 upgrade requests (WebSocket), which fastify does not route. One handler per orchestrator. */
  onUpgrade(handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): void;
}

export interface OrchestratorFeature {
  /** Short name for logs. */
  readonly name: string;
  /** Capabilities this feature serves (called for every GetOrchestrator). */
  capabilities(): FeatureCapability[];
  /** Add routes / hooks. Called once, before the server listens. */
  register(app: FastifyInstance, ctx: FeatureContext): Promise<void>;
  /** Release resources (running ffmpegs, timers) on stop. */
  close?(): Promise<void>;
  /**
   * Runtime changes through `POST /wharf/configure` (served with the orchestrator's `control`
   * option): check this feature's section of the body (the key is the feature's name). Return an
   * error message, or a function applying the changes (called only once every section is valid).
   */
  prepareConfigure?(section: unknown): string | (() => void);
}
