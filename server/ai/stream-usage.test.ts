import { test } from "node:test";
import assert from "node:assert/strict";
import { StreamedUsage } from "./stream-usage.ts";

const event = (content: string, usage?: object) => `data: ${JSON.stringify({ choices: [{ delta: { content } }], ...(usage ? { usage } : {}) })}\n\n`;

test("the last event's usage counts, however the stream is cut into chunks", () => {
  const sse = Buffer.from(
    event("You", { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 }) +
      event(" said: é", { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 }) +
      event(" hello", { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 }) +
      event(" wharf", { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 }) +
      "data: [DONE]\n\n",
  );
  for (const size of [1, 3, 7, 64, sse.length]) {
    const u = new StreamedUsage(1000);
    for (let i = 0; i < sse.length; i += size) u.feed(sse.subarray(i, i + size));
    assert.equal(u.units, 6, `chunks of ${size} bytes`);
  }
});

test("without usage in the events, one token per event; a cut stream counts what went by; never over the ceiling", () => {
  const u = new StreamedUsage(3);
  u.feed(Buffer.from(event("a") + event("b") + "data: {\"error\": {\"message\": \"x\"}}\n\n" + ": comment\n\n"));
  assert.equal(u.units, 2);
  u.feed(Buffer.from(event("c") + event("d") + event("e")));
  assert.equal(u.units, 3, "capped");
  const lying = new StreamedUsage(300);
  lying.feed(Buffer.from(event("x", { total_tokens: 1e9 })));
  assert.equal(lying.units, 300);
  assert.equal(new StreamedUsage(10).units, 0, "nothing relayed, nothing used");
});
