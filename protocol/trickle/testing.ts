// Test helpers: a trickle server on 127.0.0.1 behind fastify (plain HTTP, or HTTPS/HTTP2 with
// allowHTTP1 and a self-signed certificate, as the development orchestrator runs it), or behind
// a bare node:http server.

import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { generate } from "selfsigned";
import { createTrickleHandler, tricklePlugin } from "./mount.ts";
import { TrickleServer, type TrickleServerOptions } from "./server.ts";

export const BASE_PATH = "/ai/trickle";

export interface TestTrickle {
  server: TrickleServer;
  /** e.g. http://127.0.0.1:1234/ai/trickle */
  base: string;
  origin: string;
  close(): Promise<void>;
}

export type TestTransport = "fastify" | "node" | "https";

export async function startTrickle(transport: TestTransport = "fastify", opts: TrickleServerOptions = {}): Promise<TestTrickle> {
  const server = new TrickleServer(opts).start();
  if (transport === "node") {
    const handler = createTrickleHandler(server, BASE_PATH);
    const hs = http.createServer((req, res) => {
      if (!handler(req, res)) {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => hs.listen(0, "127.0.0.1", r));
    const origin = `http://127.0.0.1:${(hs.address() as AddressInfo).port}`;
    return {
      server,
      origin,
      base: origin + BASE_PATH,
      close: async () => {
        server.stop();
        hs.closeAllConnections();
        await new Promise<void>((r) => hs.close(() => r()));
      },
    };
  }
  let app: FastifyInstance;
  if (transport === "https") {
    const pems = await generate([{ name: "commonName", value: "127.0.0.1" }], { keySize: 2048 });
    app = Fastify({ http2: true, https: { allowHTTP1: true, key: pems.private, cert: pems.cert } }) as unknown as FastifyInstance;
  } else {
    app = Fastify();
  }
  await app.register(tricklePlugin, { prefix: BASE_PATH, server });
  // Track raw connections so close() never waits on a request a failed test left open.
  const sockets = new Set<Socket>();
  app.server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const port = (app.server.address() as AddressInfo).port;
  const origin = `${transport === "https" ? "https" : "http"}://127.0.0.1:${port}`;
  return {
    server,
    origin,
    base: origin + BASE_PATH,
    close: async () => {
      server.stop();
      for (const s of sockets) s.destroy();
      await app.close();
    },
  };
}

/** Collects a readable into a Buffer. */
export async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(parts);
}

/** Resolves `value` or rejects after `ms` (keeps a hung test from hanging the file). */
export function within<T>(p: Promise<T>, ms: number, what = "operation"): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

export const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms; rejects after `ms` (and stops polling). */
export async function waitFor(cond: () => boolean, ms: number, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`);
    await wait(10);
  }
}
