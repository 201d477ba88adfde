// Batch AI end to end: a real Wharf process and a development orchestrator (with the
// AI feature) over the wire protocol; valid requests through the official @livepeer/ai
// SDK, invalid ones through fetch; results re-hosted by Wharf; usage metered;
// LLM streaming arriving incrementally; raw PCM WAV; async image-to-video.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Livepeer } from "@livepeer/ai";
import { runFfmpeg } from "../../core/ffmpeg.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";

/** A raw PCM (s16le, mono, 16 kHz) WAV of a sine, built byte by byte. */
function pcmWav(seconds: number, rate = 16000): Buffer {
  const n = Math.round(seconds * rate);
  const b = Buffer.alloc(44 + n * 2);
  b.write("RIFF", 0, "latin1");
  b.writeUInt32LE(36 + n * 2, 4);
  b.write("WAVE", 8, "latin1");
  b.write("fmt ", 12, "latin1");
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write("data", 36, "latin1");
  b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + i * 2);
  return b;
}

describe("batch AI endpoints", { timeout: 90_000 }, () => {
  let orch: OrchestratorProcess;
  let wharf: WharfProcess;
  let sdk: Livepeer;
  let png: Buffer;
  const auth = () => ({ authorization: `Bearer ${wharf.adminKey}` });

  before(async () => {
    png = await runFfmpeg(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=s=64x48:d=1", "-frames:v", "1", "-c:v", "png", "-f", "image2pipe", "pipe:1"]);
    orch = await startOrchestratorProcess(["--control", "--no-live", "--ai-prices", JSON.stringify({ "text-to-image": 3, llm: 1000 })], { http: true });
    wharf = await startWharf({ env: { WHARF_ORCH_ADDR: orch.url } });
    sdk = new Livepeer({ serverURL: wharf.http, httpBearer: wharf.adminKey });
  });
  after(async () => {
    await wharf?.stop();
    await orch?.kill("SIGTERM");
  });

  async function fetched(url: string, type: RegExp): Promise<Buffer> {
    assert.ok(url.startsWith(`${wharf.http}/v1/results/`), `re-hosted under Wharf: ${url}`);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", type);
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.length > 0);
    return body;
  }

  const image = () => ({ fileName: "in.png", content: new Uint8Array(png) });

  test("text-to-image (SDK, default model): image URL re-hosted, seeds seed+i, usage metered in pixels", async () => {
    const r = await sdk.generate.textToImage({ prompt: "a lighthouse|a harbour", modelId: "", width: 128, height: 64, seed: 7, numImagesPerPrompt: 1 });
    const images = r.imageResponse!.images;
    assert.equal(images.length, 2);
    assert.deepEqual(images.map((i) => i.seed), [7, 8]);
    assert.equal(images[0]!.nsfw, false);
    const body = await fetched(images[0]!.url, /^image\/png/);
    assert.equal(body.readUInt32BE(16), 128);
    const usage = await wharf.api("GET", "/v1/usage");
    const rec = usage.body.records.find((x: { pipeline: string }) => x.pipeline === "text-to-image");
    assert.ok(rec, JSON.stringify(usage.body));
    assert.equal(rec.model, "stabilityai/sdxl-turbo");
    assert.equal(rec.units, 128 * 64);
    assert.equal(rec.orchestratorCostWei, String(128 * 64 * 3));
  });

  test("image-to-image, upscale, image-to-text, segment-anything-2 (SDK, multipart)", async () => {
    const i2i = await sdk.generate.imageToImage({ image: image(), prompt: "make it blue", strength: 0.5 });
    await fetched(i2i.imageResponse!.images[0]!.url, /^image\/png/);
    const up = await sdk.generate.upscale({ image: image(), prompt: "sharper" });
    const upPng = await fetched(up.imageResponse!.images[0]!.url, /^image\/png/);
    assert.equal(upPng.readUInt32BE(16), 256, "4x lanczos");
    const cap = await sdk.generate.imageToText({ image: image(), prompt: "" });
    assert.match(cap.imageToTextResponse!.text, /64x48/);
    const sam = await sdk.generate.segmentAnything2({ image: image(), pointCoords: "[[10, 10]]", pointLabels: "[1]" });
    const masks = JSON.parse(sam.masksResponse!.masks) as number[][][];
    assert.equal(masks.length, 3);
    assert.equal(masks[0]!.length, 48);
    assert.equal(masks[0]![0]!.length, 64);
    assert.equal((JSON.parse(sam.masksResponse!.scores) as number[]).length, 3);
    assert.equal((JSON.parse(sam.masksResponse!.logits) as number[][][])[0]!.length, 256);
  });

  test("image-to-video (SDK) is an mp4; Prefer: respond-async gives a request id to poll", async () => {
    const r = await sdk.generate.imageToVideo({ image: image(), width: 128, height: 72, fps: 8 });
    const mp4 = await fetched(r.videoResponse!.images[0]!.url, /^video\/mp4/);
    assert.equal(mp4.toString("latin1", 4, 8), "ftyp");

    const fd = new FormData();
    fd.append("image", new Blob([new Uint8Array(png)]), "in.png");
    fd.append("width", "128");
    fd.append("height", "72");
    const res = await fetch(`${wharf.http}/image-to-video`, { method: "POST", headers: { ...auth(), prefer: "respond-async" }, body: fd });
    assert.equal(res.status, 202);
    const { request_id } = (await res.json()) as { request_id: string };
    assert.ok(request_id);
    const done = await waitFor("async image-to-video", async () => {
      const p = await fetch(`${wharf.http}/image-to-video/result`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ request_id }) });
      const j = (await p.json()) as { status: string; result?: { images: Array<{ url: string }> } };
      if (p.status === 202) {
        assert.equal(j.status, "processing");
        return undefined;
      }
      assert.equal(p.status, 200);
      return j;
    }, 30_000, 100);
    assert.equal(done.status, "complete");
    await fetched(done.result!.images[0]!.url, /^video\/mp4/);
  });

  test("audio-to-text with raw PCM WAV (SDK); usage in ms", async () => {
    const r = await sdk.generate.audioToText({ audio: { fileName: "speech.wav", content: new Uint8Array(pcmWav(1.5)) }, returnTimestamps: "word" });
    const t = r.textResponse!;
    assert.match(t.text, /1\.50 seconds/);
    assert.match(t.text, /pcm_s16le/);
    assert.ok(t.chunks.length > 3);
    assert.equal(t.chunks[0]!.timestamp.length, 2);
    const usage = await wharf.api("GET", "/v1/usage");
    const rec = usage.body.records.find((x: { pipeline: string }) => x.pipeline === "audio-to-text");
    assert.equal(rec.units, 1500);
  });

  test("llm (SDK, non-streaming) and text-to-speech (SDK) with a WAV result", async () => {
    const r = await sdk.generate.llm({ messages: [{ role: "user", content: "hello wharf" }] });
    const l = r.llmResponse!;
    assert.equal(l.model, "meta-llama/llama-3.1-8B-Instruct");
    assert.equal(l.choices[0]!.message!.content, "You said: hello wharf");
    assert.equal(l.usage.completionTokens, 4);
    const tts = await sdk.generate.textToSpeech({ text: "Hello from Wharf." });
    const wav = await fetched(tts.audioResponse!.audio.url, /^audio\/wav/);
    assert.equal(wav.toString("latin1", 8, 12), "WAVE");
    const usage = await wharf.api("GET", "/v1/usage");
    const rec = usage.body.records.find((x: { pipeline: string }) => x.pipeline === "llm");
    // "hello wharf" (2 prompt tokens) -> "You said: hello wharf" (4): not max_tokens (256).
    assert.equal(l.usage.totalTokens, 6);
    assert.equal(rec.units, 6, "llm is billed by the tokens the answer used");
    assert.equal(rec.orchestratorCostWei, String(6 * 1000));
  });

  test("llm stream: events arrive as tokens are produced and end with [DONE]", async () => {
    await orch.configure({ ai: { llmTokenDelayMs: 120 } });
    try {
      const t0 = Date.now();
      const res = await fetch(`${wharf.http}/llm`, {
        method: "POST",
        headers: { ...auth(), "content-type": "application/json" },
        body: JSON.stringify({ messages: [{ role: "user", content: "one two three four five six" }], stream: true }),
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
      const events: Array<{ at: number; data: string }> = [];
      const decoder = new TextDecoder();
      let buf = "";
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (ev.startsWith("data: ")) events.push({ at: Date.now() - t0, data: ev.slice(6) });
        }
      }
      assert.equal(events.at(-1)!.data, "[DONE]");
      const tokens = events.slice(0, -1).map((e) => JSON.parse(e.data) as { choices: Array<{ delta: { content: string } }> });
      assert.equal(tokens.length, 8); // "You" " said:" " one" ... " six"
      assert.equal(tokens.map((t) => t.choices[0]!.delta.content).join(""), "You said: one two three four five six");
      const first = events[0]!.at;
      const last = events.at(-2)!.at;
      // 8 tokens x 120 ms: the first must arrive long before the last is produced.
      assert.ok(last - first >= 600, `first at ${first} ms, last at ${last} ms: not incremental`);
      // Billed at max_tokens before the first byte (durable), then settled to what the stream used:
      // 6 prompt tokens + 8 completion tokens, as its last chunk says.
      const requestId = res.headers.get("x-request-id")!;
      const billed = await waitFor("the streamed answer's usage settled", async () => {
        const usage = await wharf.api("GET", "/v1/usage");
        const mine = (usage.body.records as Array<{ requestId: string; units: number; orchestratorCostWei: string }>).filter((r) => r.requestId?.startsWith(requestId));
        return mine.length === 2 ? mine : undefined;
      }, 5000, 50);
      assert.equal(billed.reduce((n, r) => n + r.units, 0), 14);
      assert.equal(billed.reduce((n, r) => n + BigInt(r.orchestratorCostWei), 0n), BigInt(14 * 1000));
    } finally {
      await orch.configure({ ai: { llmTokenDelayMs: 0 } });
    }
  });

  test("one invalid request per endpoint: 4xx naming the field, in the SDK's error shapes", async () => {
    const json = (path: string, body: unknown) =>
      fetch(`${wharf.http}${path}`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify(body) });
    const form = (path: string, fields: Record<string, string>, file?: [string, Buffer]) => {
      const fd = new FormData();
      for (const [k, v] of Object.entries(fields)) fd.append(k, v);
      if (file) fd.append(file[0], new Blob([new Uint8Array(file[1])]), "f.bin");
      return fetch(`${wharf.http}${path}`, { method: "POST", headers: auth(), body: fd });
    };
    const cases: Array<[string, () => Promise<Response>, number, RegExp]> = [
      ["text-to-image", () => json("/text-to-image", { prompt: "x", width: "wide" }), 422, /width/],
      ["image-to-image", () => form("/image-to-image", { prompt: "x", strength: "1.7" }, ["image", png]), 422, /strength/],
      ["image-to-video", () => form("/image-to-video", { width: "100", height: "72" }, ["image", png]), 400, /multiples of 8/],
      ["upscale", () => form("/upscale", { prompt: "x" }), 422, /image/],
      ["audio-to-text", () => form("/audio-to-text", { return_timestamps: "sometimes" }, ["audio", pcmWav(0.2)]), 422, /return_timestamps/],
      ["llm", () => json("/llm", { messages: [{ role: "user" }] }), 422, /messages\[0\]\.content/],
      ["segment-anything-2", () => form("/segment-anything-2", { point_coords: "[[1,2]" }, ["image", png]), 422, /point_coords/],
      ["image-to-text", () => form("/image-to-text", {}, ["image", Buffer.from("not an image at all")]), 415, /image/],
      ["text-to-speech", () => json("/text-to-speech", { text: "" }), 400, /Text input must be provided/],
    ];
    for (const [name, send, status, re] of cases) {
      const res = await send();
      const body = (await res.json()) as { detail: unknown };
      assert.equal(res.status, status, `${name}: ${JSON.stringify(body)}`);
      if (status === 422) {
        assert.ok(Array.isArray(body.detail), `${name}: 422 detail is a list`);
        const d = body.detail as Array<{ loc: unknown[]; msg: string; type: string }>;
        assert.match(JSON.stringify(d[0]!.loc) + d[0]!.msg, re, name);
        assert.ok(d[0]!.type);
      } else {
        assert.match((body.detail as { msg: string }).msg, re, name);
      }
    }
    // Empty prompt, no key, malformed JSON, Wharf's /v1 shape untouched.
    const empty = await json("/text-to-image", { prompt: "  " });
    assert.equal(empty.status, 400);
    assert.deepEqual(await empty.json(), { detail: { msg: "Prompt must be provided." } });
    const anon = await fetch(`${wharf.http}/llm`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(anon.status, 401);
    assert.ok(((await anon.json()) as { detail: { msg: string } }).detail.msg);
    // A key without the "ai" scope: 403, also in the SDK's shape.
    const streamsOnly = await wharf.api<{ secret: string }>("POST", "/v1/keys", { name: "no-ai", scopes: ["streams"] });
    const noScope = await fetch(`${wharf.http}/llm`, { method: "POST", headers: { authorization: `Bearer ${streamsOnly.body.secret}`, "content-type": "application/json" }, body: "{}" });
    assert.equal(noScope.status, 403);
    assert.match(((await noScope.json()) as { detail: { msg: string } }).detail.msg, /scope/);
    const bad = await fetch(`${wharf.http}/llm`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: "{not json" });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { detail: { msg: string } }).detail.msg, /JSON/);
    const v1 = await wharf.api("GET", "/v1/results/nope");
    assert.equal(v1.status, 404);
    assert.ok(v1.body.error && v1.body.message, "Wharf's own error shape under /v1");
  });

  test("uploads over 50 MiB are refused with 413", async () => {
    const fd = new FormData();
    fd.append("image", new Blob([Buffer.alloc(50 * 1024 * 1024 + 10)]), "big.png");
    const res = await fetch(`${wharf.http}/image-to-text`, { method: "POST", headers: auth(), body: fd });
    assert.equal(res.status, 413);
    assert.match(((await res.json()) as { detail: { msg: string } }).detail.msg, /too large/);
  });
});
