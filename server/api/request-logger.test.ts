// The lazy per-request logger: nothing is made until a request logs, and then the
// line carries the request id binding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import Fastify, { type FastifyBaseLogger } from "fastify";
import { pino } from "pino";
import { lazyChildLogger } from "./request-logger.ts";

test("a request's log line carries its request id; requests that do not log make no child", async () => {
  const lines: string[] = [];
  const root = pino({ level: "info" }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
  let made = 0;
  const app = Fastify({
    loggerInstance: root,
    disableRequestLogging: true,
    // The parent handed to lazyChildLogger counts the children made from it.
    childLoggerFactory: (logger: FastifyBaseLogger, bindings, opts) =>
      lazyChildLogger(Object.assign(Object.create(logger) as FastifyBaseLogger, { child: (b: object, o?: object) => (made++, logger.child(b, o)) }), bindings, opts),
    genReqId: () => "req-42",
  });
  app.get("/quiet", async () => ({ ok: true }));
  app.get("/loud", async (req) => {
    req.log.warn({ detail: 1 }, "something to say");
    return { ok: true };
  });
  await app.inject({ url: "/quiet" });
  await app.inject({ url: "/quiet" });
  assert.equal(made, 0);
  await app.inject({ url: "/loud" });
  assert.equal(made, 1);
  const line = JSON.parse(lines.find((l) => l.includes("something to say"))!);
  assert.equal(line.reqId, "req-42");
  assert.equal(line.detail, 1);
  await app.close();
});
