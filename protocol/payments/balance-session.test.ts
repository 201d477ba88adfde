// The balance session against a signer and an orchestrator that follow go-livepeer's accounting
// (modelled here in a few lines: ticketsForFee is the real signer rule, SufficientBalance and
// DebitFees the real orchestrator rule).
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeBase64, encodeBase64, type OrchestratorInfo, type PriceInfo } from "../messages.ts";
import { BalanceSession, PaymentRefusal, ticketEvOf } from "./balance-session.ts";
import { Rational } from "./rational.ts";
import type { LivePaymentRequest, LivePaymentResult } from "./remote-signer-client.ts";
import { ticketsForFee } from "./ticket-count.ts";
import { uintToMinimalBytes, UINT256_MAX } from "./uint256.ts";

const SENDER = new Uint8Array(20).fill(7);
const EV = 8_000_000_000n; // go-livepeer's default ticket EV
const PRICE: PriceInfo = { pricePerUnit: 3, pixelsPerUnit: 1, capability: 27, constraint: "m" };

function orchestratorInfo(faceMultiple = 100n): OrchestratorInfo {
  const face = EV * faceMultiple;
  return {
    transcoder: "http://127.0.0.1:1",
    priceInfo: { pricePerUnit: 1, pixelsPerUnit: 1 },
    ticketParams: {
      recipient: new Uint8Array(20).fill(1),
      faceValue: uintToMinimalBytes(face),
      winProb: uintToMinimalBytes(UINT256_MAX / faceMultiple),
      recipientRandHash: new Uint8Array(32).fill(2),
      seed: new Uint8Array([1]),
      expirationBlock: new Uint8Array([100]),
    },
  };
}

/** go-livepeer's remote signer accounting (S) with scripted faults. */
class FakeSigner {
  credit = Rational.ZERO;
  calls = 0;
  ticketsSold = 0;
  faults: Array<480 | 481> = [];
  async generateLivePayment(req: LivePaymentRequest): Promise<LivePaymentResult> {
    this.calls++;
    await new Promise((r) => setTimeout(r, 2));
    const fault = this.faults.shift();
    if (fault === 480) return { kind: "RefreshSession", orchestratorUrl: "http://127.0.0.1:1", message: "refresh session for remote signer" };
    if (fault === 481) return { kind: "PriceTooHigh", message: "orchestrator price 3 exceeds request maxPrice ceiling 2" };
    const info = req.orchestrator as OrchestratorInfo;
    const p = info.priceInfo!;
    const fee = Rational.of(BigInt(p.pricePerUnit!), BigInt(p.pixelsPerUnit!)).mul(Rational.of(BigInt(req.inPixels!)));
    const count = ticketsForFee(fee, this.credit, ticketEvOf(info));
    if (count.numTickets === 0) return { kind: "NoTicketsNeeded", message: "no tickets" };
    this.credit = count.balanceAfter;
    this.ticketsSold += count.numTickets;
    const payment = encodeBase64("Payment", {
      ticketParams: info.ticketParams,
      sender: SENDER,
      ticketSenderParams: Array.from({ length: count.numTickets }, (_, i) => ({ senderNonce: i + 1, sig: new Uint8Array(65) })),
      expectedPrice: p,
    });
    return { kind: "Paid", payment, segCreds: "", state: { State: Buffer.from(`{"n":${this.calls}}`).toString("base64"), Sig: "" } };
  }
}

/** go-livepeer's orchestrator: credits ticket EV, refuses work below one EV, debits after work. */
class FakeOrchestrator {
  balance = Rational.ZERO;
  credited = Rational.ZERO;
  refused = 0;
  receive(paymentB64: string, feeWei: Rational): boolean {
    const payment = decodeBase64("Payment", paymentB64);
    const ev = ticketEvOf({ ticketParams: payment.ticketParams });
    const got = ev.mul(Rational.of(BigInt(payment.ticketSenderParams?.length ?? 0)));
    this.balance = this.balance.add(got);
    this.credited = this.credited.add(got);
    if (this.balance.cmp(ev) < 0) {
      this.refused++;
      return false;
    }
    this.balance = this.balance.sub(feeWei);
    return true;
  }
}

function fixture(pixels: number) {
  const signer = new FakeSigner();
  const orch = new FakeOrchestrator();
  const info = orchestratorInfo();
  let refreshed = 0;
  const session = new BalanceSession({
    signer,
    sender: SENDER,
    manifestId: "27_m",
    refresh: async () => {
      refreshed++;
      return info;
    },
  });
  const fee = Rational.of(BigInt(PRICE.pricePerUnit!) * BigInt(pixels));
  const run = async () => {
    const p = await session.pay(info, PRICE, pixels);
    const ok = orch.receive(p.payment, fee);
    p.settle(ok ? "done" : "not-done");
    return { ok, evWei: p.evWei };
  };
  return { signer, orch, session, run, refreshed: () => refreshed };
}

test("small fees: one ticket buys many requests, every request is covered, paid EV equals what the orchestrator credited", async () => {
  const f = fixture(512 * 512); // 786,432 wei per request, EV 8e9: ~10,000 requests per ticket
  let paid = 0n;
  for (let i = 0; i < 200; i++) {
    const r = await f.run();
    assert.ok(r.ok, `request ${i} refused`);
    paid += r.evWei;
  }
  assert.equal(f.orch.refused, 0);
  assert.equal(f.signer.calls, 1, "one signer call for 200 requests");
  assert.equal(paid, f.orch.credited.ceil());
});

test("large fees (above one EV): tickets for each request's own fee, never a refusal, and the signer's credit tracks the orchestrator's balance", async () => {
  const f = fixture(1280 * 720 * 30 * 10); // 829 Mpx x 3 wei ~ 2.5e9 x 10 per request > EV
  let paid = 0n;
  for (let i = 0; i < 30; i++) {
    const r = await f.run();
    assert.ok(r.ok, `request ${i} refused`);
    paid += r.evWei;
  }
  assert.equal(paid, f.orch.credited.ceil());
  // S = B + R with every fee reported: what the signer thinks equals what the orchestrator holds, up to fees not yet reported.
  assert.ok(f.orch.balance.cmp(ticketEvOf(orchestratorInfo())) >= 0, "the orchestrator keeps at least one EV");
  const spent = Rational.of(3n * BigInt(1280 * 720 * 30 * 10) * 30n);
  const overpaid = f.orch.credited.sub(spent);
  assert.ok(overpaid.cmp(Rational.of(2n * EV)) <= 0, `paid at most two tickets beyond the work (overpaid ${overpaid.toFixed(0)} wei)`);
});

test("16 concurrent requests share one refill and none reaches the orchestrator short of one EV", async () => {
  const f = fixture(100_000_000); // 3e8 wei: ~26 requests per ticket
  const results = await Promise.all(Array.from({ length: 16 }, () => f.run()));
  assert.ok(results.every((r) => r.ok));
  // One refill on the requests' path, at most one more in the background (the top-up once the
  // balance falls under 2 EV): never one per request.
  assert.ok(f.signer.calls <= 2, `${f.signer.calls} signer calls`);
  for (let round = 0; round < 5; round++) {
    const rs = await Promise.all(Array.from({ length: 16 }, () => f.run()));
    assert.ok(rs.every((r) => r.ok), `round ${round}: a request was refused`);
  }
  assert.equal(f.orch.refused, 0);
});

test("small fees: after the first refill no request waits for the signer (tickets are bought ahead and ride on the next request)", async () => {
  const f = fixture(10_000_000); // 3e7 wei: ~266 requests per ticket
  const slow = f.signer.generateLivePayment.bind(f.signer);
  f.signer.generateLivePayment = async (req) => {
    await new Promise((r) => setTimeout(r, 40));
    return slow(req);
  };
  await f.run();
  const waits: number[] = [];
  for (let i = 0; i < 400; i++) {
    const t0 = performance.now();
    const r = await f.run();
    waits.push(performance.now() - t0);
    assert.ok(r.ok, `request ${i} refused`);
    await new Promise((r) => setTimeout(r, 1)); // ~1,000 requests a second: a ticket lasts ~0.27 s
  }
  assert.ok(f.signer.calls >= 2, `tickets kept being bought (${f.signer.calls} calls)`);
  assert.ok(Math.max(...waits) < 30, `a request waited ${Math.max(...waits).toFixed(1)} ms for the 40 ms signer`);
  assert.equal(f.orch.refused, 0);
});

test("480 refreshes the orchestrator info and retries; more than 3 in a row refuses the payment", async () => {
  const f = fixture(1000);
  f.signer.faults = [480, 480];
  assert.ok((await f.run()).ok);
  assert.equal(f.refreshed(), 2);
  const g = fixture(1000);
  g.signer.faults = [480, 480, 480, 480];
  await assert.rejects(g.run(), (e: unknown) => e instanceof PaymentRefusal && e.kind === "refresh-exhausted");
});

test("481 refuses the payment as price-too-high (the caller picks another orchestrator)", async () => {
  const f = fixture(1000);
  f.signer.faults = [481];
  await assert.rejects(f.run(), (e: unknown) => e instanceof PaymentRefusal && e.kind === "price-too-high" && /exceeds/.test(e.message));
});

test("work that was not done is not counted against the balance", async () => {
  const f = fixture(1_000_000_000); // 3e9 per request
  const p = await f.session.pay(orchestratorInfo(), PRICE, 1_000_000_000);
  const before = f.session.balanceWei;
  p.settle("not-done");
  p.settle("done"); // settle is once only
  assert.equal(f.session.balanceWei, before);
});
