// An event stream whose client left before the stream was opened (while a slow authentication ran,
// as in cluster mode) is closed at once: its close had passed, and its heartbeat and subscription
// ran for good. Real fastify and a real client on 127.0.0.1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import { SseConnection } from "./sse.ts";

test("a client gone during a slow preHandler: the stream opened after it is closed, and its onClose runs", async () => {
  const app = Fastify();
  const closed: string[] = [];
  let opened = 0;
  app.get("/events", { preHandler: async () => void (await new Promise((r) => setTimeout(r, 300))) }, async (req, reply) => {
    const sse = new SseConnection(req, reply, { endpoint: "events" });
    opened++;
    sse.onClose(() => closed.push(req.url));
    return reply;
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  try {
    const port = (app.server.address() as AddressInfo).port;
    const req = request({ host: "127.0.0.1", port, path: "/events" });
    req.on("error", () => {});
    req.end();
    setTimeout(() => req.destroy(), 50);
    for (let i = 0; i < 100 && closed.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(opened, 1, "the handler ran after the client left");
    assert.deepEqual(closed, ["/events"]);
  } finally {
    await app.close();
  }
});
