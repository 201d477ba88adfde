import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Agent, request } from "undici";
import { closeGrpcClients, getOrchestrator, OrchestratorRpcError, ping } from "./grpc-client.ts";
import { GrpcStatusError } from "./grpc-service.ts";
import { createProtocolServer, type ProtocolServer } from "./orchestrator-server.ts";
import { selfSignedCertificate } from "./tls.ts";

const agent = new Agent({ connect: { rejectUnauthorized: false } });
const h2agent = new Agent({ connect: { rejectUnauthorized: false }, allowH2: true });

async function start(secure: boolean): Promise<{ server: ProtocolServer; url: string; fingerprint?: string }> {
  const cert = secure ? await selfSignedCertificate() : undefined;
  const server = await createProtocolServer({
    tls: cert,
    grpc: {
      getOrchestrator: (req) => {
        if (req.address && Buffer.from(req.address).toString() === "reject") throw new GrpcStatusError(grpc.status.PERMISSION_DENIED, "nope");
        return { transcoder: "https://example:1", priceInfo: { pricePerUnit: 7, pixelsPerUnit: 3 } };
      },
    },
  });
  server.app.post("/echo", async (req, reply) => {
    const body = req.body as Buffer;
    return reply.send({ len: body.length, first: body[0], last: body[body.length - 1], version: req.raw.httpVersion });
  });
  server.app.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, (_r, b, done) => done(null, b));
  const port = await server.listen(0);
  return { server, url: `${secure ? "https" : "http"}://127.0.0.1:${port}`, fingerprint: cert?.fingerprint256 };
}

for (const secure of [false, true]) {
  describe(`protocol server (${secure ? "TLS" : "plaintext"})`, () => {
    let s: Awaited<ReturnType<typeof start>>;
    before(async () => {
      s = await start(secure);
    });
    after(async () => {
      await closeGrpcClients();
      await s.server.close();
    });

    test("gRPC GetOrchestrator and Ping on the shared port", async () => {
      const info = await getOrchestrator(s.url, { timeoutMs: 3000 });
      assert.equal(info.transcoder, "https://example:1");
      assert.equal(info.priceInfo?.pricePerUnit, 7);
      assert.equal(info.priceInfo?.pixelsPerUnit, 3);
      const pong = await ping(s.url, Buffer.from("hello"));
      assert.equal(Buffer.from(pong.value!).toString(), "hello");
    });

    test("gRPC errors carry the handler's status (trailers-only)", async () => {
      await assert.rejects(getOrchestrator(s.url, { request: { address: Buffer.from("reject") } }), (err: unknown) => {
        assert.ok(err instanceof OrchestratorRpcError);
        assert.equal(err.code, grpc.status.PERMISSION_DENIED);
        assert.match(err.message, /nope/);
        return true;
      });
    });

    test("HTTP/1.1 POST with a large body reaches fastify", async () => {
      const body = randomBytes(3 * 1024 * 1024);
      const res = await request(`${s.url}/echo`, { method: "POST", body, headers: { "content-type": "application/octet-stream" }, dispatcher: agent });
      assert.equal(res.statusCode, 200);
      const json = (await res.body.json()) as { len: number; first: number; last: number; version: string };
      assert.deepEqual(json, { len: body.length, first: body[0], last: body[body.length - 1], version: "1.1" });
    });

    test("HTTP/2 (non-gRPC) POST with a large body reaches fastify", async () => {
      const body = randomBytes(2 * 1024 * 1024);
      const session = http2.connect(s.url, { rejectUnauthorized: false });
      try {
        const req = session.request({ ":method": "POST", ":path": "/echo", "content-type": "application/octet-stream" });
        req.end(body);
        const chunks: Buffer[] = [];
        const status = await new Promise<number>((resolve, reject) => {
          let st = 0;
          req.on("response", (h) => (st = Number(h[":status"])));
          req.on("data", (c: Buffer) => chunks.push(c));
          req.on("end", () => resolve(st));
          req.on("error", reject);
        });
        assert.equal(status, 200);
        const json = JSON.parse(Buffer.concat(chunks).toString()) as { len: number; version: string; last: number };
        assert.equal(json.len, body.length);
        assert.equal(json.last, body[body.length - 1]);
        assert.equal(json.version, "2.0");
      } finally {
        session.close();
      }
    });

    if (secure) {
      test("undici with allowH2 works too; pinning accepts the right and rejects a wrong fingerprint", async () => {
        const res = await request(`${s.url}/echo`, { method: "POST", body: Buffer.from([1, 2]), headers: { "content-type": "application/octet-stream" }, dispatcher: h2agent });
        assert.equal(res.statusCode, 200);
        await res.body.dump();
        const ok = await getOrchestrator(s.url, { tls: { pinSha256: s.fingerprint } });
        assert.equal(ok.transcoder, "https://example:1");
        await assert.rejects(getOrchestrator(s.url, { tls: { pinSha256: "AA".repeat(32) } }), (err: unknown) => {
          assert.ok(err instanceof OrchestratorRpcError);
          assert.equal(err.code, grpc.status.UNAUTHENTICATED);
          return true;
        });
      });
    }
  });
}

test("unreachable orchestrator -> UNAVAILABLE quickly", async () => {
  const t0 = Date.now();
  await assert.rejects(getOrchestrator("http://127.0.0.1:1", { timeoutMs: 3000 }), (err: unknown) => {
    assert.ok(err instanceof OrchestratorRpcError);
    assert.ok(err.unreachable);
    return true;
  });
  assert.ok(Date.now() - t0 < 3500);
  await closeGrpcClients();
});

after(async () => {
  await agent.close();
  await h2agent.close();
});
