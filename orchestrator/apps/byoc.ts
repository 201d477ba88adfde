// BYOC on the development orchestrator, as go-livepeer's orchestrator serves it (byoc/
// job_orchestrator.go): containers register a capability (POST /capability/register with the
// orchSecret); a gateway asks GET /process/token for ticket parameters, the price and its balance,
// then sends POST /process/request/{path} with the signed job header and, when its balance is low,
// a Livepeer-Payment. With --require-payment this orchestrator is an on-chain one: it verifies both
// signatures (the sender's address, the job's request + parameters) and holds the balance per
// (sender, capability), refusing a job while it covers less than a minute of the price and debiting
// whole seconds of compute after it. Without, it is an off-chain one: no signature, no balance.
// It also lists its capabilities in /discovery (`byoc`), which go-livepeer does not.
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
  jobSignedMessage,
  jobTokenJson,
  parseJobSender,
  parseSignedJob,
} from "../../protocol/apps/byoc.ts";
import { BYOC_HEADER, type DiscoveredByoc } from "../../protocol/apps/live-runner.ts";
import { AddressFormatError, checksumAddress, parseAddress } from "../../protocol/payments/address.ts";
import { orchestratorRequestSigValid } from "../../protocol/payments/orchestrator-request-sig.ts";
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

const text400 = (reply: FastifyReply, message: string) => reply.code(400).type("text/plain").send(message);

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
      if (!secretOk(req)) return reply.code(401).type("text/plain").send("invalid orchSecret");
      const body = await readJson(req);
      const name = typeof body?.name === "string" ? body.name : "";
      const url = typeof body?.url === "string" ? body.url.replace(/\/+$/, "") : "";
      const capacity = Number(body?.capacity ?? 1);
      const pricePerUnit = Number(body?.price_per_unit ?? 0);
      const scaling = Number(body?.price_scaling ?? 1) || 1;
      if (!name || !/^https?:\/\//.test(url) || !Number.isInteger(capacity) || capacity < 0 || !(pricePerUnit >= 0)) {
        return text400(reply, "expected {name, url, capacity, price_per_unit, price_scaling, currency}");
      }
      // Updated in place: jobs in flight hold this object and give their capacity back to it.
      const price = { pricePerUnit: Math.round(pricePerUnit), pixelsPerUnit: scaling };
      const known = this.capabilities.get(name);
      if (known) Object.assign(known, { url, capacity, price });
      else this.capabilities.set(name, { name, url, capacity, used: 0, price });
      ctx.log.info({ name, url, capacity }, "BYOC capability registered");
      return { name, registered: true };
    });
    sub.post("/capability/unregister", async (req, reply) => {
      if (!secretOk(req)) return reply.code(401).type("text/plain").send("invalid orchSecret");
      // go-livepeer's body is the capability's name as plain text; {"name": ...} is taken too.
      const text = (await readText(req)) ?? "";
      let name = text.trim();
      try {
        const json = JSON.parse(text) as { name?: unknown };
        if (typeof json?.name === "string") name = json.name;
      } catch {
        /* the plain name */
      }
      this.capabilities.delete(name);
      return reply.code(204).send();
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
      if (!jobSender || !sender || !sig || (ctx.payee && !orchestratorRequestSigValid(sender, sig))) return text400(reply, "Invalid eth address header ");
      const name = header(req, JOB_CAPABILITY_HEADER);
      if (!name) return text400(reply, "Job capabilities not provided, must provide comma separated capabilities in Livepeer-Capability header");
      const c = this.capabilities.get(name);
      if (!c) return text400(reply, `Could not get price err=capability ${name} not found`);
      const senderText = checksumAddress(sender);
      return reply.type("application/json").send(
        jobTokenJson({
          senderAddress: jobSender,
          ticketParams: ctx.payee?.ticketParams(sender, c.price),
          balance: ctx.payee ? ctx.payee.balances.balance(senderText, c.name).floor() : 0n,
          price: { pricePerUnit: c.price.pricePerUnit, pixelsPerUnit: c.price.pixelsPerUnit },
          serviceAddr: ctx.serviceUrl,
          availableCapacity: Math.max(0, c.capacity - c.used),
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
      if (!c) return text400(reply, JOB_CREDS_ERROR);
      if (c.used >= c.capacity) return reply.code(503).type("text/plain").send(JOB_CAPACITY_ERROR);
      const senderText = checksumAddress(sender);
      const price = Rational.of(c.price.pricePerUnit, c.price.pixelsPerUnit);
      if (ctx.payee && price.sign() > 0) {
        const value = header(req, JOB_PAYMENT_HEADER);
        if (value) {
          let payment;
          try {
            payment = decodePaymentHeader(value);
          } catch {
            return text400(reply, JOB_PAYMENT_ERROR);
          }
          // go logs a refused ticket and goes on: the balance decides.
          ctx.payee.receive(payment, c.name);
        }
        if (ctx.payee.balances.balance(senderText, c.name).cmp(price.mul(Rational.of(JOB_MIN_BALANCE_SECONDS))) < 0) {
          ctx.payee.balances.insufficient(senderText, c.name);
          return text400(reply, JOB_BALANCE_ERROR);
        }
      }
      try {
        JSON.parse(job.request);
      } catch {
        return text400(reply, "Unable to unmarshal job request details");
      }
      c.used++;
      const t0 = Date.now();
      const payee = ctx.payee;
      const balance = () => (payee ? payee.balances.balance(senderText, c.name).floor().toString() : "0");
      try {
        // go also answers its balance for the sender (Livepeer-Balance); the answer here is the
        // container's, streamed, and a gateway reads the balance from its next token.
        await relay(reply, req, targetUrl(c.url, req.params["*"], req.url), { livepeer: undefined, [JOB_PAYMENT_HEADER]: undefined, "livepeer-segment": undefined });
      } finally {
        c.used--;
        if (payee && price.sign() > 0) payee.debit(senderText, c.name, price.mul(Rational.of(Math.max(1, Math.ceil((Date.now() - t0) / 1000)))));
        ctx.log.debug({ capability: c.name, sender: senderText, balance: balance() }, "BYOC job done");
      }
      return reply;
    });
  }
}
