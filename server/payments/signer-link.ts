// Wharf's connection to its remote signer: the identity it signs for (asked once at start and
// retried until it answers), whether it is reachable now, and the Payer built on it.
import { moduleLogger } from "../../core/log.ts";
import { metrics } from "../../core/metrics.ts";
import type { OrchestratorInfo } from "../../protocol/messages.ts";
import { PaymentRefusal, type TicketSource } from "../../protocol/payments/balance-session.ts";
import { Payer, type PayerIdentity } from "../../protocol/payments/payer.ts";
import { RemoteSignerClient, RemoteSignerError, type LivePaymentRequest, type LivePaymentResult } from "../../protocol/payments/remote-signer-client.ts";
import type { MaxPrice } from "../../protocol/payments/remote-signer-wire.ts";
import type { JobSender } from "../../protocol/apps/byoc.ts";
import { toHex0x } from "../../protocol/payments/address.ts";
import { normalizeAddress, type Candidate } from "../orchestrators/discovery.ts";

const log = moduleLogger("payments");

/** First retry after a failed /sign-orchestrator-info; doubles up to the max. */
const IDENTITY_RETRY_BASE_MS = 1000;
const IDENTITY_RETRY_MAX_MS = 30_000;
/** A signer that signs no BYOC jobs is asked again after this long (it may have been upgraded). */
const JOB_SIGNING_RETRY_MS = 10 * 60_000;

export interface SignerLinkOptions {
  url: string;
  /** 'k:v,k2:v2' as go-livepeer's -remoteSignerHeaders. */
  headers?: string;
  timeoutMs?: number;
  refresh(orchestrator: string): Promise<OrchestratorInfo>;
  maxPrice?: (work: "pixels" | "lv2v") => MaxPrice | undefined;
  /** The identity arrived after a failed first attempt (orchestrators refused unsigned requests meanwhile). */
  onLateIdentity?: () => void;
}

export interface SignerStatus {
  url: string;
  state: "starting" | "up" | "down";
  address: string | null;
  lastError: string | null;
  lastOkAt: string | null;
}

/** go-livepeer's -remoteSignerHeaders format: comma-separated `name:value` pairs. */
export function parseSignerHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(",")) {
    if (part.trim() === "") continue;
    const i = part.indexOf(":");
    if (i <= 0) throw new Error(`remoteSignerHeaders: "${part.trim().slice(0, 40)}..." is not name:value`);
    const name = part.slice(0, i).trim();
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) throw new Error(`remoteSignerHeaders: "${name.slice(0, 40)}" is not a header name`);
    out[name] = part.slice(i + 1).trim();
  }
  return out;
}

export class SignerLink {
  readonly client: RemoteSignerClient;
  readonly payer: Payer;
  /** The signer as payments see it: its health follows every call. */
  readonly payerSigner: TicketSource;
  private identity: (PayerIdentity & { text: string }) | undefined;
  private state: SignerStatus["state"] = "starting";
  private lastError: string | undefined;
  private lastOkAt: number | undefined;
  private retryMs = IDENTITY_RETRY_BASE_MS;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Until when the signer is not asked for job signatures: it refused one (go-livepeer's has no such call). */
  private jobSigningOffUntil = 0;

  constructor(private readonly o: SignerLinkOptions) {
    this.client = new RemoteSignerClient({ url: o.url, headers: parseSignerHeaders(o.headers ?? ""), timeoutMs: o.timeoutMs });
    // Every payment goes through observe() so the signer's health is what payments see.
    const observed = { generateLivePayment: (req: LivePaymentRequest, signal?: AbortSignal) => this.observe(this.client.generateLivePayment(req, signal)) };
    this.payerSigner = observed;
    this.payer = new Payer({ signer: observed, identity: () => this.identity, refresh: o.refresh, maxPrice: o.maxPrice });
  }

  /** Ask for the identity; resolves after the first attempt (success or not) or `waitMs`. */
  async start(waitMs = 5000): Promise<void> {
    const first = this.askIdentity();
    await Promise.race([first, new Promise((r) => setTimeout(r, waitMs).unref())]);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  get ready(): boolean {
    return this.identity !== undefined && this.state === "up";
  }

  status(): SignerStatus {
    return {
      url: this.client.origin,
      state: this.state,
      address: this.identity?.text ?? null,
      lastError: this.lastError ?? null,
      lastOkAt: this.lastOkAt ? new Date(this.lastOkAt).toISOString() : null,
    };
  }

  /** Who asks a BYOC orchestrator for a job token: the address and its signature (go's JobSender). */
  jobSender(): JobSender | undefined {
    return this.identity && { addr: this.identity.text, sig: toHex0x(this.identity.signature) };
  }

  /**
   * A BYOC job's signature (0x hex), or undefined when this signer signs no jobs: go-livepeer's
   * remote signer has no such call (404), Wharf's signs none behind an auth webhook (403). Such a
   * refusal is remembered for JOB_SIGNING_RETRY_MS. The job then goes unsigned, which an off-chain
   * orchestrator takes (it verifies nothing) and an on-chain one refuses.
   */
  async signByocJob(request: string, parameters: string): Promise<string | undefined> {
    if (Date.now() < this.jobSigningOffUntil) return undefined;
    try {
      return (await this.client.signByocJob(request, parameters)).signature;
    } catch (err) {
      if (err instanceof RemoteSignerError && (err.status === 404 || err.status === 403 || err.status === 405)) {
        this.jobSigningOffUntil = Date.now() + JOB_SIGNING_RETRY_MS;
        log.warn({ signer: this.client.origin, status: err.status }, "the remote signer signs no BYOC jobs: jobs go unsigned, which only off-chain orchestrators take");
        return undefined;
      }
      throw err; // this job's own refusal (400) or the signer down: not remembered
    }
  }

  private async askIdentity(): Promise<void> {
    if (this.stopped) return;
    try {
      const sig = await this.client.signOrchestratorInfo();
      const late = this.state === "down";
      this.identity = { address: sig.address, signature: sig.signature, text: sig.addressText };
      this.markUp();
      if (late) this.o.onLateIdentity?.();
      log.info({ signer: this.client.origin, address: sig.addressText }, "remote signer identity");
    } catch (err) {
      this.markDown(err);
      log.warn({ signer: this.client.origin, err: (err as Error).message, retryMs: this.retryMs }, "remote signer did not sign the orchestrator request; retrying");
      this.timer = setTimeout(() => void this.askIdentity(), this.retryMs);
      this.timer.unref();
      this.retryMs = Math.min(IDENTITY_RETRY_MAX_MS, this.retryMs * 2);
    }
  }

  private async observe(p: Promise<LivePaymentResult>): Promise<LivePaymentResult> {
    try {
      const r = await p;
      this.markUp();
      return r;
    } catch (err) {
      if (err instanceof RemoteSignerError) {
        // A 400 refuses this request (its orchestrator's parameters, say), not the signer's health;
        // 401/403/404 say Wharf cannot use this signer at all.
        if (!(err.failure === "status" && err.status === 400)) this.markDown(err);
        throw new PaymentRefusal("signer", `the remote signer could not pay: ${err.message}`);
      }
      throw err;
    }
  }

  private markUp(): void {
    this.state = "up";
    this.lastOkAt = Date.now();
    this.retryMs = IDENTITY_RETRY_BASE_MS;
    metrics.signerUp.set({ signer: new URL(this.client.origin).host }, 1);
  }

  private markDown(err: unknown): void {
    this.state = "down";
    this.lastError = (err as Error).message.slice(0, 300);
    metrics.signerUp.set({ signer: new URL(this.client.origin).host }, 0);
  }
}

/** Orchestrators the signer knows (GET /discover-orchestrators), as registry candidates. */
export async function signerCandidates(link: SignerLink): Promise<Candidate[]> {
  const found = await link.client.discoverOrchestrators();
  return found
    .filter((d) => typeof d.address === "string" && d.address !== "")
    .map((d) => ({ address: normalizeAddress(d.address) ?? d.address, score: typeof d.score === "number" ? d.score : 1, source: "webhook" as const }));
}
