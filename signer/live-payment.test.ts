// In-process tests of the payment decision (go-livepeer's GenerateLivePayment rules) with a fake
// clock; signer.test.ts drives the same through the real process over HTTP.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { pino } from "pino";
import { decodeBase64, encodeMessage, type OrchestratorInfo } from "../protocol/messages.ts";
import { generateSecretKey, secretKeySigner } from "../protocol/payments/personal-sign.ts";
import { Rational } from "../protocol/payments/rational.ts";
import type { SignerState } from "../protocol/payments/remote-signer-wire.ts";
import { MAX_WIN_PROB } from "../protocol/payments/ticket.ts";
import { paymentTickets, ticketSignatureValid } from "../protocol/payments/ticket-batch.ts";
import { uintToMinimalBytes } from "../protocol/payments/uint256.ts";
import { generateLivePayment, type LivePaymentContext } from "./live-payment.ts";

const T0 = Date.UTC(2026, 0, 1);
const ORCH_ADDRESS = new Uint8Array(20).fill(0xab);

interface InfoOptions {
  price?: [number, number];
  faceValue?: bigint;
  winProb?: bigint;
  randHash?: number;
  expirationBlock?: bigint;
  authExpiresAt?: number;
}

/** EV 35 wei by default: face 105 x winProb 1/3 (2^256-1 is divisible by 3, so it is exact). */
function orchInfo(o: InfoOptions = {}): OrchestratorInfo {
  const [ppu, ppx] = o.price ?? [3, 1];
  return {
    transcoder: "https://orch.test:8935",
    address: ORCH_ADDRESS,
    priceInfo: { pricePerUnit: ppu, pixelsPerUnit: ppx },
    authToken: { token: Uint8Array.of(1), sessionId: "sess", expiration: Math.floor((o.authExpiresAt ?? T0 + 30 * 60_000) / 1000) },
    ticketParams: {
      recipient: ORCH_ADDRESS,
      faceValue: uintToMinimalBytes(o.faceValue ?? 105n),
      winProb: uintToMinimalBytes(o.winProb ?? MAX_WIN_PROB / 3n),
      recipientRandHash: new Uint8Array(32).fill(o.randHash ?? 2),
      seed: Uint8Array.of(9),
      expirationBlock: uintToMinimalBytes(o.expirationBlock ?? 1000n),
    },
  };
}

function setup(over: Partial<LivePaymentContext> = {}) {
  let now = T0;
  const signer = secretKeySigner(generateSecretKey());
  const ctx: LivePaymentContext = {
    signer,
    limits: { maxTicketEV: Rational.of(3_000_000_000_000n), maxTotalEV: Rational.of(20_000_000_000_000n) },
    lastSeenL1Block: 0n,
    now: () => now,
    log: pino({ level: "silent" }),
    ...over,
  };
  const call = async (body: Record<string, unknown>, info: OrchestratorInfo = orchInfo(), headers: Record<string, string[]> = {}) => {
    const answer = await generateLivePayment(ctx, JSON.stringify({ orchestrator: encodeMessage("OrchestratorInfo", info).toString("base64"), ...body }), headers);
    const b = answer.body as { payment: string; segCreds: string; state: SignerState; error?: { message: string } };
    const payment = answer.status === 200 ? decodeBase64("Payment", b.payment) : undefined;
    const state = answer.status === 200 ? (JSON.parse(Buffer.from(b.state.State, "base64").toString()) as Record<string, unknown>) : undefined;
    return { ...answer, b, payment, state, tickets: payment ? paymentTickets(payment) : [] };
  };
  return { ctx, signer, call, advance: (ms: number) => (now += ms) };
}

test("live: the first call prepays 10 s, the next bills elapsed whole seconds (go's 3 wei/s, EV 35 example)", async () => {
  const { call, advance, signer } = setup();
  const first = await call({ type: "live" });
  assert.equal(first.status, 200);
  assert.equal(first.tickets.length, 1);
  assert.ok(first.tickets.every(ticketSignatureValid));
  assert.deepEqual(first.tickets[0]!.ticket.sender, signer.address);
  assert.equal(first.state!.Balance, "5");
  assert.equal(first.state!.Type, "live");
  assert.equal(first.state!.SequenceNumber, 0);
  advance(12_000);
  const second = await call({ type: "live", ManifestID: "m1", state: first.b.state });
  assert.equal(second.status, 200);
  assert.equal(second.tickets.length, 1);
  assert.equal(second.state!.Balance, "4");
  assert.equal(second.state!.SequenceNumber, 1);
  assert.equal(second.tickets[0]!.ticket.senderNonce, 2, "nonces continue in the same PM session");
});

test("pixels: the fee stays at the session's initial price; expected_price is the current one (go's LV2V_Succeeds)", async () => {
  const { call } = setup();
  const first = await call({ inPixels: 1000 }, orchInfo({ price: [150, 175] }));
  assert.equal(first.tickets.length, 25);
  assert.equal(first.state!.Balance, "125/7");
  const second = await call({ inPixels: 2500, ManifestID: "m1", state: first.b.state }, orchInfo({ price: [112, 175] }));
  assert.equal(second.status, 200);
  assert.equal(second.tickets.length, 61);
  assert.equal(second.state!.Balance, "10");
  assert.equal(second.payment!.expectedPrice!.pricePerUnit, 112);
});

test("lv2v prepays 60 s of 1280x720x30 and bills elapsed time afterwards", async () => {
  // 1 wei per 27,648,000 pixels = 1 wei per second of 720p30; EV 35.
  const { call, advance } = setup();
  const first = await call({ type: "lv2v" }, orchInfo({ price: [1, 27_648_000] }));
  assert.equal(first.state!.Balance, `${2 * 35 - 60}`);
  advance(5_500);
  const second = await call({ type: "lv2v", ManifestID: "m", state: first.b.state }, orchInfo({ price: [1, 27_648_000] }));
  // 5.5 s cost 5.5 wei, but the credit (10) is below one ticket's EV (35): one more ticket.
  assert.equal(second.status, 200);
  assert.equal(second.state!.Balance, "79/2");
});

test("fixed bills one unit per call: every call buys a ticket", async () => {
  const { call } = setup();
  const info = orchInfo({ price: [35, 1] });
  const a = await call({ type: "fixed" }, info);
  const b = await call({ type: "fixed", ManifestID: "m", state: a.b.state }, info);
  assert.deepEqual([a.status, b.status], [200, 200]);
  assert.deepEqual([a.state!.Balance, b.state!.Balance], ["0", "0"]);
});

test("482 when the credit covers the cycle: no new state, and the next paid call bills all the time since", async () => {
  const { call, advance } = setup();
  const info = orchInfo({ faceValue: 3000n }); // EV 1000 at 3 wei/s
  const first = await call({ type: "live" }, info); // 10 s prepaid: 30 -> one ticket, credit 970
  assert.equal(first.state!.Balance, "970");
  advance(1_000);
  const second = await call({ type: "live", ManifestID: "m", state: first.b.state }, info); // 3 wei, but the credit is under one EV
  assert.equal(second.state!.Balance, "1967");
  advance(5_000);
  const covered = await call({ type: "live", ManifestID: "m", state: second.b.state }, info);
  assert.equal(covered.status, 482);
  assert.deepEqual(covered.b, { error: { message: "no tickets" } });
  advance(695_000);
  const later = await call({ type: "live", ManifestID: "m", state: second.b.state }, info);
  assert.equal(later.status, 200);
  // 700 s since the last paid call x 3 = 2100 > 1967: one ticket; 1967 + 1000 - 2100.
  assert.equal(later.state!.Balance, "867");
});

test("481 above the initial session price, the request's maxPrice or the configured maximum", async () => {
  const { call } = setup({ configuredMaxPrice: Rational.of(10) });
  const first = await call({ type: "live" });
  const pricier = await call({ type: "live", ManifestID: "m", state: first.b.state }, orchInfo({ price: [4, 1] }));
  assert.equal(pricier.status, 481);
  assert.match(pricier.b.error!.message, /exceeds initial session price ceiling/);
  const capped = await call({ type: "live", maxPrice: { price: "2.5", currency: "wei", unit: "seconds" } });
  assert.equal(capped.status, 481);
  assert.match(capped.b.error!.message, /orchestrator price 3.000 exceeds request maxPrice ceiling 2.500/);
  assert.equal((await call({ type: "live" }, orchInfo({ price: [11, 1] }))).status, 481);
  assert.equal((await call({ type: "live", maxPrice: { price: 3, currency: "WEI", unit: "seconds" } })).status, 200, "equal passes");
  assert.equal((await call({ type: "live", maxPrice: { price: 3, currency: "wei", unit: "fixed" } })).status, 400);
});

test("480 with the orchestrator's URL when its auth token is in its last 3 minutes or its ticket params expired", async () => {
  const { call } = setup({ lastSeenL1Block: 999n });
  const stale = await call({ type: "live" }, orchInfo({ authExpiresAt: T0 + 170_000, expirationBlock: 5000n }));
  assert.equal(stale.status, 480);
  assert.equal(stale.headers?.["Livepeer-Orchestrator-URL"], "https://orch.test:8935");
  assert.equal((await call({ type: "live" }, orchInfo({ expirationBlock: 1000n }))).status, 480);
  assert.equal((await call({ type: "live" }, orchInfo({ expirationBlock: 1001n }))).status, 200);
});

test("a tampered or foreign state is refused (400 invalid sig); a state needs a ManifestID", async () => {
  const { call } = setup();
  const first = await call({ type: "live" });
  const json = JSON.parse(Buffer.from(first.b.state.State, "base64").toString());
  json.Balance = "1000000";
  const forged = { State: Buffer.from(JSON.stringify(json)).toString("base64"), Sig: first.b.state.Sig };
  assert.deepEqual((await call({ type: "live", ManifestID: "m", state: forged })).b, { error: { message: "invalid sig" } });
  const other = setup();
  const foreign = await other.call({ type: "live" });
  assert.equal((await call({ type: "live", ManifestID: "m", state: foreign.b.state })).status, 400);
  assert.deepEqual((await call({ type: "live", state: first.b.state })).b, { error: { message: "missing manifestID" } });
});

test("a state belongs to one orchestrator, app and job type", async () => {
  const { call } = setup();
  const first = await call({ type: "live", app: "a" });
  const info = orchInfo();
  assert.equal((await call({ type: "live", app: "a", ManifestID: "m", state: first.b.state }, { ...info, address: new Uint8Array(20).fill(1) })).b.error?.message, "orchestratorAddress mismatch");
  assert.equal((await call({ type: "live", app: "b", ManifestID: "m", state: first.b.state })).b.error?.message, "app mismatch");
  assert.equal((await call({ type: "fixed", app: "a", ManifestID: "m", state: first.b.state })).b.error?.message, "job type mismatch");
});

test("nonces restart when the orchestrator's recipient rand hash changes", async () => {
  const { call } = setup();
  const first = await call({ inPixels: 30 }); // 90 wei at EV 35: 3 tickets, credit 15
  assert.deepEqual(first.tickets.map((t) => t.ticket.senderNonce), [1, 2, 3]);
  const same = await call({ inPixels: 30, ManifestID: "m", state: first.b.state });
  assert.deepEqual(same.tickets.map((t) => t.ticket.senderNonce), [4, 5, 6]);
  const fresh = await call({ inPixels: 200, ManifestID: "m", state: same.b.state }, orchInfo({ randHash: 7 }));
  assert.equal(fresh.tickets[0]!.ticket.senderNonce, 1);
});

test("more than 100 tickets in one call is a 400", async () => {
  const { call } = setup();
  assert.equal((await call({ inPixels: 100 * 35 }, orchInfo({ price: [1, 1] }))).tickets.length, 100);
  const r = await call({ inPixels: 100 * 35 + 1 }, orchInfo({ price: [1, 1] }));
  assert.equal(r.status, 400);
  assert.deepEqual(r.b, { error: { message: "numTickets 101 exceeds maximum of 100" } });
});

test("request keys match case-insensitively, as Go's encoding/json", async () => {
  const { ctx } = setup();
  const info = encodeMessage("OrchestratorInfo", orchInfo()).toString("base64");
  const answer = await generateLivePayment(ctx, JSON.stringify({ Orchestrator: info, TYPE: "live", manifestid: "x" }), {});
  assert.equal(answer.status, 200);
});

test("go-livepeer's gateway's first request (null state and capabilities, empty ManifestID, inPixels 0) is a new session", async () => {
  const { ctx } = setup();
  const body = { state: { State: null, Sig: null }, orchestrator: encodeMessage("OrchestratorInfo", orchInfo({ price: [1, 27_648_000] })).toString("base64"), ManifestID: "", inPixels: 0, type: "lv2v", capabilities: null };
  const answer = await generateLivePayment(ctx, JSON.stringify(body), { "content-type": ["application/json"] });
  assert.equal(answer.status, 200);
});

test("malformed requests are 400s with go's reasons", async () => {
  const { ctx, call } = setup();
  assert.equal((await generateLivePayment(ctx, "{", {})).status, 400);
  assert.deepEqual((await generateLivePayment(ctx, "{}", {})).body, { error: { message: "missing orchestrator" } });
  assert.deepEqual((await call({ type: "live" }, { ...orchInfo(), priceInfo: undefined })).b, { error: { message: "missing or zero priceInfo" } });
  assert.deepEqual((await call({ type: "live" }, { ...orchInfo(), ticketParams: undefined })).b, { error: { message: "missing ticketParams in OrchestratorInfo" } });
  assert.match((await call({ type: "live" }, { ...orchInfo(), authToken: undefined })).b.error!.message, /missing auth token/);
  assert.deepEqual((await call({ type: "weekly" })).b, { error: { message: "invalid job type" } });
  assert.deepEqual((await call({})).b, { error: { message: "missing billable unit or job type" } });
});

async function withWebhook(answer: (body: { headers: Record<string, string[]>; state: Record<string, unknown> }) => unknown, run: (url: string, calls: () => number) => Promise<void>) {
  let calls = 0;
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      calls++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(answer(JSON.parse(raw))));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}/auth`, () => calls);
  } finally {
    server.close();
  }
}

test("the auth webhook decides: its status and reason are answered, expiry skips it, auth_id is kept", async () => {
  let seen: { headers: Record<string, string[]>; state: Record<string, unknown> } | undefined;
  let verdict: Record<string, unknown> = { status: 403, reason: "key revoked" };
  await withWebhook(
    (b) => ((seen = b), verdict),
    async (url, calls) => {
      const { call } = setup({ authWebhook: { url, headers: {} } });
      const refused = await call({ type: "live" }, undefined, { "x-api-key": ["k"] });
      assert.deepEqual([refused.status, refused.b], [403, { error: { message: "key revoked" } }]);
      assert.deepEqual(seen!.headers["X-Api-Key"], ["k"]);
      assert.equal(seen!.state.Balance, "5", "the webhook sees the state after this payment");
      verdict = { status: 200, expiry: Math.floor(T0 / 1000) + 60, auth_id: "user-1" };
      const ok = await call({ type: "live" });
      assert.equal(ok.state!.AuthID, "user-1");
      assert.equal(ok.state!.AuthExpiry, Math.floor(T0 / 1000) + 60);
      const n = calls();
      const again = await call({ type: "live", ManifestID: "m", state: ok.b.state }, undefined, { "signer-auth-id": ["someone-else"] });
      assert.equal(calls(), n, "not asked again before expiry");
      assert.deepEqual([again.status, again.b], [500, { error: { message: "remote signer auth ID changed" } }]);
      verdict = { status: 200, maxPrice: { price: 2, currency: "wei", unit: "seconds" } };
      assert.equal((await call({ type: "live" })).status, 481);
      verdict = { status: 200, maxPrice: { price: -1, currency: "wei", unit: "seconds" } };
      assert.equal((await call({ type: "live" })).status, 502);
      verdict = { nope: true };
      assert.equal((await call({ type: "live" })).status, 500);
    },
  );
});

test("an unreachable auth webhook means no payment (500)", async () => {
  const { call } = setup({ authWebhook: { url: "http://127.0.0.1:1/auth", headers: {} } });
  const r = await call({ type: "live" });
  assert.equal(r.status, 500);
  assert.match(r.b.error!.message, /failed to call remote signer webhook/);
});

test("the Signer-Auth-Id header is stored in the state", async () => {
  const { call } = setup();
  assert.equal((await call({ type: "live" }, undefined, { "signer-auth-id": ["acct-7"] })).state!.AuthID, "acct-7");
});
