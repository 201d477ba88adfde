// BYOC on the development orchestrator, as go-livepeer's orchestrator serves it (byoc/
// job_orchestrator.go): containers register a capability (POST /capability/register with the
// orchSecret); a gateway asks GET /process/token for ticket parameters, the price and its balance,
// then sends POST /process/request/{path} with the signed job header and, when its balance is low,
// a Livepeer-Payment. With --require-payment this orchestrator is an on-chain one: it verifies both
// signatures (the sender's address, the job's request + parameters) and holds the balance per
// (sender, capability), refusing a job while it covers less than a minute of the price and debiting
// whole seconds of compute after it; a payment it cannot take closes the connection unanswered,
// as go's handler does. Without, it is an off-chain one: no signature, no balance, every price 0.
// Errors are go's http.Error texts (plain text, newline). Left out: go's Livepeer-Balance answer
// header, its 5 s debits of a streamed answer, its timeout_seconds bound on the container.
// It also lists its capabilities in /discovery (`byoc`), which go-livepeer does not.
import { keccak_256 } from "@noble/hashes/sha3.js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  JOB_BALANCE_ERROR,
  JOB_CAPABILITY_HEADER,
  JOB_CAPACITY_ERROR,
  JOB_CREDS_ERROR,
  JOB_MIN_BALANCE_SECONDS,
  JOB_PAYMENT_ERROR,
  JOB_PAYMENT_HEADER,
  JOB_SENDER_HEADER,
  JOB_TIMEOUT_ERROR,
  isJobRequestText,
  jobSignedMessage,
  jobTokenJson,
  parseJobSender,
  parseSignedJob,
} from "../../protocol/apps/byoc.ts";
import { BYOC_HEADER, type DiscoveredByoc } from "../../protocol/apps/live-runner.ts";
import { AddressFormatError, checksumAddress, parseAddress } from "../../protocol/payments/address.ts";
import { verifyPersonalSignature } from "../../protocol/payments/personal-sign.ts";
import { Rational } from "../../protocol/payments/rational.ts";
import type { FeatureContext, Price } from "../feature.ts";
import { decodePaymentHeader } from "../payments/gate.ts";
import { header, readJson, readText } from "./request.ts";

interface ByocCapability {
  name: string;
  url: string;
  capacity: number;
  used: number;
  /** Wei per second of compute. */
  price: Price;
}

export type Relay = (reply: FastifyReply, req: FastifyRequest, target: URL, headers: Record<string, string | undefined>) => Promise<boolean>;

/** go's sig field: 0x-hex (the prefix dropped past 130 characters), "" for none. */
function sigBytes(sig: string): Uint8Array | undefined {
  const hex = sig.length > 130 ? sig.slice(2) : sig;
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) return undefined;
  return new Uint8Array(Buffer.from(hex, "hex"));
}

function addressOf(text: string): Uint8Array | undefined {
  try {
    return parseAddress(text);
  } catch (err) {
    if (err instanceof AddressFormatError) return undefined;
    throw err;
  }
}

/** go's http.Error: plain text with a newline. */
const goError = (reply: FastifyReply, status: number, message: string) => reply.code(status).type("text/plain; charset=utf-8").send(`${message}\n`);
const text400 = (reply: FastifyReply, message: string) => goError(reply, 400, message);

/** What go's VerifySig checks for a token's sender: personal_sign over keccak256 of the addr text as sent. */
function senderSigValid(addrText: string, address: Uint8Array, sig: Uint8Array): boolean {
  return verifyPersonalSignature(address, keccak_256(new TextEncoder().encode(addrText)), sig);
}

export class ByocHost {
  private readonly capabilities = new Map<string, ByocCapability>();

  view(): DiscoveredByoc[] {
    return [...this.capabilities.values()].map((c) => ({
      name: c.name,
      capacity: c.capacity,
      capacity_used: c.used,
      capacity_available: Math.max(0, c.capacity - c.used),
      ...(c.price.pricePerUnit > 0 ? { price_info: { price: c.price.pricePerUnit / c.price.pixelsPerUnit, currency: "wei" as const, unit: "seconds" as const, price_per_unit: c.price.pricePerUnit, pixels_per_unit: c.price.pixelsPerUnit } } : {}),
    }));
  }

  /** The routes, in a scope whose bodies are not parsed (they stream to the container). */
  register(sub: FastifyInstance, ctx: FeatureContext, orchSecret: string | undefined, relay: Relay, targetUrl: (base: string, rest: string, rawUrl: string) => URL): void {
    const secretOk = (req: FastifyRequest) => Boolean(orchSecret) && header(req, "authorization") === orchSecret;
    sub.post("/capability/register", async (req, reply) => {
      if (!secretOk(req)) return text400(reply, "invalid authorization");
      const body = await readJson(req);
      const name = typeof body?.name === "string" ? body.name : "";
      const url = typeof body?.url === "string" ? body.url.replace(/\/+$/, "") : "";
      const capacity = Number(body?.capacity ?? 1);
      const pricePerUnit = Number(body?.price_per_unit ?? 0);
      const scaling = Number(body?.price_scaling ?? 1) || 1;
      if (!name || !/^https?:\/\//.test(url) || !Number.isInteger(capacity) || capacity < 0 || !Number.isSafeInteger(pricePerUnit) || pricePerUnit < 0 || !Number.isSafeInteger(scaling) || scaling <= 0) {
        return text400(reply, "expected {name, url, capacity, price_per_unit, price_scaling, currency}");
      }
      // Updated in place: jobs in flight hold this object and give their capacity back to it. go
      // prices a job in whole wei per second (price_per_unit / price_scaling, truncated).
      const price = { pricePerUnit: Math.floor(pricePerUnit / scaling), pixelsPerUnit: 1 };
      const known = this.capabilities.get(name);
      if (known) Object.assign(known, { url, capacity, price });
      else this.capabilities.set(name, { name, url, capacity, used: 0, price });
      ctx.log.info({ name, url, capacity }, "BYOC capability registered");
      return reply.type("application/json").send("ok");
    });
    sub.post("/capability/unregister", async (req, reply) => {
      if (!secretOk(req)) return text400(reply, "invalid authorization");
      // go-livepeer's body is the capability's name as plain text; {"name": ...} is taken too.
      const text = (await readText(req)) ?? "";
      let name = text.trim();
      try {
        const json = JSON.parse(text) as { name?: unknown };
        if (typeof json?.name === "string") name = json.name;
      } catch {
        /* the plain name */
      }
      if (!this.capabilities.delete(name)) return text400(reply, `Error removing capability: capability ${name} not found`);
      return reply.type("application/json").send("ok");
    });

    sub.get("/process/token", async (req, reply) => {
      const senderHeader = header(req, JOB_SENDER_HEADER);
      if (!senderHeader) return text400(reply, "Must have eth address and signature on address in Livepeer-Eth-Address header");
      let sender: Uint8Array | undefined;
      let jobSender;
      try {
        jobSender = parseJobSender(senderHeader);
        sender = addressOf(jobSender.addr) ?? (ctx.payee ? undefined : new Uint8Array(20));
      } catch {
        sender = undefined;
      }
      const sig = jobSender && sigBytes(jobSender.sig);
      if (!jobSender || !sender || !sig || (ctx.payee && !senderSigValid(jobSender.addr, sender, sig))) return text400(reply, "Invalid eth address header ");
      const name = header(req, JOB_CAPABILITY_HEADER);
      if (!name) return text400(reply, "Job capabilities not provided, must provide comma separated capabilities in Livepeer-Capability header");
      // As go: a capability not hosted here gets a token with no capacity and no price. Off-chain
      // (no --require-payment) every price is 0 and there are no ticket parameters.
      const c = this.capabilities.get(name);
      const price = c && ctx.payee ? c.price : { pricePerUnit: 0, pixelsPerUnit: 1 };
      const senderText = checksumAddress(sender);
      return reply.type("application/json").send(
        jobTokenJson({
          senderAddress: jobSender,
          ticketParams: ctx.payee?.ticketParams(sender, price),
          balance: ctx.payee && c ? ctx.payee.balances.balance(senderText, c.name).floor() : 0n,
          price,
          serviceAddr: ctx.serviceUrl,
          availableCapacity: c ? Math.max(0, c.capacity - c.used) : 0,
        }),
      );
    });

    sub.post<{ Params: { "*": string } }>("/process/request/*", async (req, reply) => {
      // go's order: the job's creds (signature, timeout), capacity reserved, then the payment.
      let job;
      try {
        job = parseSignedJob(header(req, BYOC_HEADER));
      } catch {
        return text400(reply, JOB_CREDS_ERROR);
      }
      if (job.timeout_seconds === 0) return text400(reply, JOB_TIMEOUT_ERROR);
      // go's HexToAddress takes anything (garbage is the zero address); only a signature is checked.
      const sender = addressOf(job.sender) ?? (ctx.payee ? undefined : new Uint8Array(20));
      const sig = sigBytes(job.sig);
      if (!sender || !sig || (ctx.payee && !verifyPersonalSignature(sender, jobSignedMessage(job.request, job.parameters), sig))) return text400(reply, JOB_CREDS_ERROR);
      const c = this.capabilities.get(job.capability);
      if (!c || c.used >= c.capacity) return goError(reply, 503, JOB_CAPACITY_ERROR);
      const senderText = checksumAddress(sender);
      const price = Rational.of(c.price.pricePerUnit, c.price.pixelsPerUnit);
      if (ctx.payee && price.sign() > 0) {
        const value = header(req, JOB_PAYMENT_HEADER);
        if (value) {
          // go's orchestrator, on a payment it cannot read or whose tickets it refuses, reads a nil
          // balance and its handler panics: the gateway sees the connection closed, no answer.
          let refused: string | undefined;
          try {
            refused = ctx.payee.receive(decodePaymentHeader(value), c.name).error;
          } catch {
            refused = JOB_PAYMENT_ERROR;
          }
          if (refused !== undefined) {
            ctx.log.info({ sender: checksumAddress(sender), err: refused }, "BYOC job payment refused: connection closed, as go-livepeer's");
            reply.hijack();
            reply.raw.destroy();
            return reply;
          }
        }
        if (ctx.payee.balances.balance(senderText, c.name).cmp(price.mul(Rational.of(JOB_MIN_BALANCE_SECONDS))) < 0) {
          ctx.payee.balances.insufficient(senderText, c.name);
          return text400(reply, JOB_BALANCE_ERROR);
        }
      }
      if (!isJobRequestText(job.request, { allowNull: true })) return text400(reply, "Unable to unmarshal job request details");
      c.used++;
      const t0 = Date.now();
      const payee = ctx.payee;
      try {
        // go also answers its balance for the sender (Livepeer-Balance); the answer here is the
        // container's, streamed, and a gateway reads the balance from its next token.
        await relay(reply, req, targetUrl(c.url, req.params["*"], req.url), { livepeer: undefined, [JOB_PAYMENT_HEADER]: undefined, "livepeer-segment": undefined });
      } finally {
        c.used--;
        if (payee && price.sign() > 0) payee.debit(senderText, c.name, price.mul(Rational.of(Math.max(1, Math.ceil((Date.now() - t0) / 1000)))));
        ctx.log.debug({ capability: c.name, sender: senderText, balance: payee?.balances.balance(senderText, c.name).floor().toString() }, "BYOC job done");
      }
      return reply;
    });
  }
}
