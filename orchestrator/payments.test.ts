// The development orchestrator run as an on-chain go-livepeer orchestrator would be
// (`--require-payment`), paid over the network by this test acting as a gateway: its own key signs
// the OrchestratorRequest and the tickets (protocol/payments), and GET /wharf/payments shows what
// the orchestrator credited and debited.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runFfmpeg } from "../core/ffmpeg.ts";
import { buildBitstring, Capability } from "../protocol/capabilities.ts";
import { closeGrpcClients, getOrchestrator } from "../protocol/grpc-client.ts";
import { decodeMessage, encodeBase64, type AuthToken, type Capabilities, type OrchestratorInfo, type Payment } from "../protocol/messages.ts";
import { checksumAddress } from "../protocol/payments/address.ts";
import { signOrchestratorRequest } from "../protocol/payments/orchestrator-request-sig.ts";
import { generateSecretKey, secretKeySigner } from "../protocol/payments/personal-sign.ts";
import { Rational } from "../protocol/payments/rational.ts";
import { winProbFor } from "../protocol/payments/recipient.ts";
import { livePaymentCredentials } from "../protocol/payments/segment-credentials.ts";
import { ticketEV } from "../protocol/payments/ticket.ts";
import { createTicketBatch } from "../protocol/payments/ticket-batch.ts";
import { decodeTicketParams } from "../protocol/payments/ticket-params.ts";
import { uintToMinimalBytes } from "../protocol/payments/uint256.ts";
import { PRESETS } from "../protocol/profiles.ts";
import { AI_WORKER_AUTHORIZATION, buildAiSegData, buildSegData, PAYMENT_HEADER, SEGMENT_HEADER } from "../protocol/segment-header.ts";
import { TricklePublisher } from "../protocol/trickle/index.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../test/support/orchestrator.ts";
import { sleep, waitFor } from "../test/support/wait.ts";
import { parseCli } from "./main.ts";
import type { PaymentsView } from "./payments/payee.ts";

const T2I_MODEL = "stabilityai/sdxl-turbo";
const T2I_PRICE = 2; // wei per pixel
const LLM_MODEL = "meta-llama/llama-3.1-8B-Instruct";
const LLM_PRICE = 1_000; // wei per token
const TRANSCODE_PRICE = 3; // wei per pixel
// 300 wei per pixel x 1280x720x30 pixels per second: about one ticket's EV (8 gwei) per second of live video.
const LIVE_PRICE = 300;
const EV_WEI = 8_000_000_000n;

const tokenText = (t: AuthToken | undefined) => `${Buffer.from(t?.token ?? []).toString("hex")}/${t?.sessionId}/${t?.expiration}`;

/** Capabilities asking for one model (the price of the answer's ticket params is that model's). */
function modelCaps(capability: number, model: string): Capabilities {
  return { bitstring: buildBitstring([capability]), capacities: { [capability]: 1 }, constraints: { PerCapability: { [capability]: { models: { [model]: { warm: true } } } } } };
}

describe("an orchestrator that requires payment, paid by a gateway over the network", () => {
  let orch: OrchestratorProcess;
  let segment: Buffer;
  const gateway = secretKeySigner(generateSecretKey());
  const sender = checksumAddress(gateway.address);
  const requestSig = signOrchestratorRequest(gateway);

  const info = (capabilities?: Capabilities) => getOrchestrator(orch.url, { request: { address: gateway.address, sig: requestSig, capabilities } });
  const batch = (oi: OrchestratorInfo, lastNonce: number, count: number): Payment => {
    const params = decodeTicketParams(oi.ticketParams!);
    return createTicketBatch({ params, expiration: params.expiration, signer: gateway, lastNonce, count, expectedPrice: oi.priceInfo }).payment;
  };
  const pay = (oi: OrchestratorInfo, lastNonce: number, count: number) => encodeBase64("Payment", batch(oi, lastNonce, count));
  const payments = async (): Promise<PaymentsView> => (await (await fetch(`${orch.url}/wharf/payments`)).json()) as PaymentsView;
  const account = async (key: string) => (await payments()).senders[sender]?.[key];
  const evOf = (oi: OrchestratorInfo) => {
    const p = decodeTicketParams(oi.ticketParams!);
    return ticketEV(p.faceValue, p.winProb);
  };
  const textToImage = (oi: OrchestratorInfo, payment: string) =>
    fetch(`${orch.url}/text-to-image`, {
      method: "POST",
      headers: {
        [SEGMENT_HEADER]: encodeBase64("SegData", buildAiSegData(Capability.TextToImage, T2I_MODEL, oi.authToken!)),
        [PAYMENT_HEADER]: payment,
        authorization: AI_WORKER_AUTHORIZATION,
        "content-type": "application/json",
      },
      body: JSON.stringify({ prompt: "a paid harbour", model_id: T2I_MODEL, height: 256, width: 256 }),
    });

  before(async () => {
    [orch, segment] = await Promise.all([
      startOrchestratorProcess(
        [
          "--require-payment", "--control", "--x264-preset", "ultrafast", "--ai-zero-cost",
          "--price-per-unit", String(TRANSCODE_PRICE),
          "--ai-prices", JSON.stringify({ "text-to-image": T2I_PRICE, llm: LLM_PRICE }),
          "--ai-price", `live-video-to-video=${LIVE_PRICE}`,
          "--live-payment-interval", "1s",
        ],
        { http: true },
      ),
      // 1 s of 320x240 video at 30 fps with audio, keyframe every 0.5 s.
      runFfmpeg(
        ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
          "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-c:a", "aac", "-f", "mpegts", "pipe:1"],
        { timeoutMs: 20_000 },
      ),
    ]);
  });
  after(async () => {
    await orch?.kill("SIGTERM");
    await closeGrpcClients();
  });

  test("GetOrchestrator with a valid signature answers ticket params for this sender at the asked model's price", async () => {
    const oi = await info(modelCaps(Capability.TextToImage, T2I_MODEL));
    const view = await payments();
    assert.equal(view.required, true);
    assert.equal(checksumAddress(oi.address!), view.recipient);
    const p = decodeTicketParams(oi.ticketParams!);
    assert.equal(checksumAddress(p.recipient), view.recipient);
    assert.equal(p.faceValue, EV_WEI * 100n, "face value = ticket EV x 100");
    assert.equal(p.winProb, winProbFor(EV_WEI * 100n, EV_WEI));
    assert.equal(oi.ticketParams!.recipientRandHash?.length, 32);
    const block = BigInt(view.l1Block);
    assert.ok(p.expirationBlock >= block + 39n && p.expirationBlock <= block + 40n, `expires 40 blocks out: ${p.expirationBlock} vs ${block}`);
    assert.ok(p.expiration.creationRound > 0 && p.expiration.creationRoundBlockHash.some((b) => b !== 0), "creation round and block hash are set");
    assert.deepEqual([oi.priceInfo?.pricePerUnit, oi.priceInfo?.pixelsPerUnit], [T2I_PRICE, 1], "price of the model asked for");
    const plain = await info();
    assert.deepEqual([plain.priceInfo?.pricePerUnit, plain.priceInfo?.pixelsPerUnit], [TRANSCODE_PRICE, 1], "no capabilities asked: the transcoding price");
    assert.notDeepEqual(plain.ticketParams!.recipientRandHash, oi.ticketParams!.recipientRandHash, "fresh params on every call");
  });

  test("GetOrchestrator with a bad or missing signature is refused with go-livepeer's error", async () => {
    const other = signOrchestratorRequest(secretKeySigner(generateSecretKey()));
    await assert.rejects(getOrchestrator(orch.url, { request: { address: gateway.address, sig: other } }), /Invalid orchestrator request: orchestrator req sig check failed/);
    await assert.rejects(getOrchestrator(orch.url, { request: {} }), /Invalid orchestrator request: orchestrator req sig check failed/);
  });

  test("a text-to-image request paid with enough tickets is served; their EV is credited and the image debited", async () => {
    const oi = await info(modelCaps(Capability.TextToImage, T2I_MODEL));
    const res = await textToImage(oi, pay(oi, 0, 2));
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { images: unknown[] }).images.length, 1);
    const acct = await account(`${Capability.TextToImage}_${T2I_MODEL}`);
    assert.ok(acct, "an account for (sender, 27_model)");
    assert.equal(acct.credited, "16000000000", "2 x EV, in whole wei");
    assert.equal(acct.exact.credited, evOf(oi).mul(Rational.of(2)).toString(), "exactly 2 x the tickets' EV");
    assert.equal(acct.debited, String(256 * 256 * T2I_PRICE), "height x width x images at the model's price");
    assert.deepEqual(acct.tickets, { received: 2, accepted: 2, rejected: {}, winning: acct.tickets.winning });
  });

  test("an llm answer is debited by the tokens it produced, not by max_tokens", async () => {
    const oi = await info(modelCaps(Capability.LLM, LLM_MODEL));
    const res = await fetch(`${orch.url}/llm`, {
      method: "POST",
      headers: {
        [SEGMENT_HEADER]: encodeBase64("SegData", buildAiSegData(Capability.LLM, LLM_MODEL, oi.authToken!)),
        [PAYMENT_HEADER]: pay(oi, 0, 1),
        "content-type": "application/json",
      },
      body: JSON.stringify({ model: LLM_MODEL, messages: [{ role: "user", content: "is this paid for" }], max_tokens: 200 }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const answer = (await res.json()) as { usage: { completion_tokens: number } };
    assert.ok(answer.usage.completion_tokens > 0 && answer.usage.completion_tokens < 200);
    const acct = (await account(`${Capability.LLM}_${LLM_MODEL}`))!;
    assert.equal(acct.credited, "8000000000");
    assert.equal(acct.debited, String(answer.usage.completion_tokens * LLM_PRICE));
  });

  test("work without payment is refused: 400 Insufficient balance; an undecodable payment header is 402", async () => {
    const oi = await info(modelCaps(Capability.TextToImage, T2I_MODEL));
    const unpaid = await textToImage(oi, "");
    assert.equal(unpaid.status, 400);
    assert.equal(await unpaid.text(), "Insufficient balance");
    const garbage = await textToImage(oi, "%%% not base64 %%%");
    assert.equal(garbage.status, 402);
    assert.match(await garbage.text(), /base64 decode error/);
  });

  test("a reused nonce and a tampered face value are refused and not credited", async () => {
    const key = `${Capability.TextToImage}_${T2I_MODEL}`;
    const before = (await account(key))!;
    const oi = await info(modelCaps(Capability.TextToImage, T2I_MODEL));
    const first = await textToImage(oi, pay(oi, 0, 1));
    assert.equal(first.status, 200, await first.clone().text());
    const replay = await textToImage(oi, pay(oi, 0, 1));
    assert.equal(replay.status, 400);
    assert.equal(await replay.text(), `invalid ticket senderNonce: already seen sender=${sender} nonce=1`);
    const tampered = batch(oi, 1, 1);
    tampered.ticketParams!.faceValue = uintToMinimalBytes(EV_WEI * 1000n);
    const forged = await textToImage(oi, encodeBase64("Payment", tampered));
    assert.equal(forged.status, 400);
    assert.equal(await forged.text(), "invalid recipientRand for ticket recipientRandHash");
    const acct = (await account(key))!;
    assert.equal(acct.exact.credited, Rational.parse(before.exact.credited)!.add(evOf(oi)).toString(), "only the first ticket was credited");
    assert.equal(acct.tickets.rejected["ticket already used"], 1);
    assert.equal(acct.tickets.rejected["invalid recipientRand for ticket recipientRandHash"], 1);
  });

  test("a ticket made with expired params is refused (TicketParams expired) and not credited", async () => {
    const key = `${Capability.TextToImage}_${T2I_MODEL}`;
    const before = (await account(key))!;
    const oi = await info(modelCaps(Capability.TextToImage, T2I_MODEL));
    await orch.configure({ payments: { advanceBlocks: 40 } });
    const res = await textToImage(oi, pay(oi, 0, 1));
    assert.equal(res.status, 400);
    assert.equal(await res.text(), "TicketParams expired");
    const acct = (await account(key))!;
    assert.equal(acct.exact.credited, before.exact.credited);
    assert.equal(acct.tickets.rejected["TicketParams expired"], 1);
  });

  test("a transcoded segment is paid and debited by the output pixels of its renditions", async () => {
    const oi = await info();
    const sessionId = oi.authToken!.sessionId!;
    const send = (payment: string) =>
      fetch(`${orch.url}/segment`, {
        method: "POST",
        headers: {
          [SEGMENT_HEADER]: encodeBase64("SegData", buildSegData({ manifestId: "paid-stream", seq: 7, data: segment, durationMs: 1000, authToken: oi.authToken!, profiles: [PRESETS.P144p30fps16x9!] })),
          [PAYMENT_HEADER]: payment,
          "content-type": "video/MP2T",
        },
        body: new Uint8Array(segment),
      });
    const unpaid = await send("");
    assert.equal(unpaid.status, 400);
    assert.equal(await unpaid.text(), "Insufficient balance");
    const res = await send(pay(oi, 0, 1));
    assert.equal(res.status, 200);
    const result = decodeMessage("TranscodeResult", new Uint8Array(await res.arrayBuffer()));
    assert.equal(result.error, undefined);
    const pixels = result.data!.segments!.map((s) => s.pixels ?? 0);
    assert.ok(pixels[0]! > 0 && pixels[0]! % (256 * 144) === 0, `whole 256x144 frames: ${pixels[0]}`);
    assert.equal(tokenText(result.info?.authToken), tokenText(oi.authToken), "the same auth token");
    assert.ok(result.info?.ticketParams?.recipientRandHash?.length, "fresh ticket params for the next segment");
    const acct = (await account(sessionId))!;
    assert.equal(acct.credited, "8000000000");
    assert.equal(acct.debited, String(pixels.reduce((a, b) => a + b, 0) * TRANSCODE_PRICE));
  });

  test("a live-video-to-video session is credited, topped up with POST /payment, and closed once it is not paid further", async () => {
    const oi = await info(modelCaps(Capability.LiveVideoToVideo, "noop"));
    assert.equal(oi.priceInfo?.pricePerUnit, LIVE_PRICE);
    const start = await fetch(`${orch.url}/live-video-to-video`, {
      method: "POST",
      headers: {
        [SEGMENT_HEADER]: encodeBase64("SegData", buildAiSegData(Capability.LiveVideoToVideo, "noop", oi.authToken!)),
        [PAYMENT_HEADER]: pay(oi, 0, 2),
        "content-type": "application/json",
      },
      body: JSON.stringify({ model_id: "noop" }),
    });
    assert.equal(start.status, 200, await start.clone().text());
    const session = (await start.json()) as { manifest_id: string; publish_url: string; subscribe_url: string; control_url: string; events_url: string };
    const mid = session.manifest_id;

    // A follow-up payment, as the gateway sends one every interval: credited to the manifest id.
    const topUp = await fetch(`${orch.url}/payment`, {
      method: "POST",
      headers: { [SEGMENT_HEADER]: encodeBase64("SegData", livePaymentCredentials({ manifestId: mid, authToken: oi.authToken, signer: gateway })), [PAYMENT_HEADER]: pay(oi, 2, 1) },
    });
    assert.equal(topUp.status, 200, await topUp.clone().text());
    const refreshed = decodeMessage("PaymentResult", new Uint8Array(await topUp.arrayBuffer())).info!;
    assert.equal(tokenText(refreshed.authToken), tokenText(oi.authToken), "the same auth token");
    assert.notDeepEqual(refreshed.ticketParams!.recipientRandHash, oi.ticketParams!.recipientRandHash, "fresh ticket params");
    assert.equal(refreshed.priceInfo?.pricePerUnit, LIVE_PRICE, "still the session's price");
    assert.equal((await account(mid))!.credited, "24000000000");

    // Publish input (it paces the debits) and pay nothing more: ~8.3 gwei a second drains 3 tickets in about 3 s.
    const startedAt = Date.now();
    const pub = new TricklePublisher(session.publish_url, { contentType: "video/MP2T" });
    let stopped: unknown;
    while (Date.now() - startedAt < 20_000) {
      try {
        await pub.writeSegment(segment);
      } catch (err) {
        stopped = err;
        break;
      }
      await sleep(250);
    }
    await pub.close().catch(() => undefined);
    assert.ok(stopped, "publishing fails once the session is closed");
    const acct = await waitFor("the session's refusal", async () => {
      const a = await account(mid);
      return a && a.insufficientBalance === 1 ? a : undefined;
    });
    assert.ok(Date.now() - startedAt < 10_000, "closed within seconds of running out");
    assert.equal(acct.credited, "24000000000");
    assert.ok(Rational.parse(acct.exact.debited)!.cmp(Rational.of(2n * EV_WEI)) > 0, `two 1 s bills at ${LIVE_PRICE} wei/px: ${acct.debited}`);
    assert.ok(Rational.parse(acct.exact.balance)!.cmp(Rational.of(BigInt(LIVE_PRICE) * 27_648_000n)) < 0, "what is left cannot pay one more second");
    assert.match(orch.output(), new RegExp(`insufficient balance, mid=${mid}, fee=\\d+, balance=\\d+`));
    for (const url of [session.publish_url, session.subscribe_url, session.control_url, session.events_url]) {
      const r = await fetch(`${url}/0`, { signal: AbortSignal.timeout(3000) });
      assert.equal(r.status, 404, `${url} is closed`);
      await r.body?.cancel();
    }
  });
});

test("the payment flags: --require-payment, --ticket-ev in wei (only with it), --live-payment-interval as a duration", () => {
  const o = parseCli(["--require-payment", "--ticket-ev", "1000", "--live-payment-interval", "500ms"])!;
  assert.equal(o.requirePayment, true);
  assert.equal(o.ticketEV, 1000n);
  assert.equal(parseCli([])!.requirePayment, false, "off by default");
  assert.equal(parseCli(["--require-payment"])!.ticketEV, undefined, "go's default then");
  assert.throws(() => parseCli(["--ticket-ev", "1000"]), /only with --require-payment/);
  assert.throws(() => parseCli(["--require-payment", "--ticket-ev", "1.5"]), /--ticket-ev/);
  assert.throws(() => parseCli(["--require-payment", "--ticket-ev", "0"]), /--ticket-ev/);
  assert.throws(() => parseCli(["--live-payment-interval", "soon"]), /--live-payment-interval/);
  for (const ok of ["5s", "2", "0.5", "250ms"]) assert.ok(parseCli(["--live-payment-interval", ok]), ok);
});
