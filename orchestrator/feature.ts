// The plugin contract of the development orchestrator. Feature modules
// (orchestrator/ai, orchestrator/live, ...) advertise capabilities, models,
// capacity and prices through `capabilities()` (called for every
// GetOrchestrator, so live numbers are fine) and add HTTP routes in `register`.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../core/log.ts";
import type { OrchestratorInfo, SegData } from "../protocol/messages.ts";
import type { AuthTokenStore } from "./auth-tokens.ts";

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
  orchestratorInfo(): OrchestratorInfo;
  /** Absolute URL on this orchestrator for a path ("/stream/x" -> "https://host:port/stream/x"). */
  publicUrl(path: string): string;
  /**
   * Hook to check credentials inside a fastify preHandler: replies 403/400 with a
   * JSON error and returns undefined on failure, else the SegData.
   */
  requireCredentials(req: FastifyRequest, reply: FastifyReply): Promise<SegData | undefined>;
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
