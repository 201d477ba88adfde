// One port serving gRPC and plain HTTP(S), like a go-livepeer orchestrator.
//
// - TLS: `http2.createSecureServer({allowHTTP1: true})` (ALPN picks h2 or http/1.1).
// - Plaintext: a `net` server sniffs the HTTP/2 connection preface
//   (`PRI * HTTP/2.0`) and hands the socket to an h2c server, else to an
//   HTTP/1.1 server.
// - Per request: HTTP/2 requests whose content-type starts with `application/grpc`
//   are proxied (headers, body, trailers) to a real @grpc/grpc-js Server bound on
//   an internal loopback port; everything else goes to a fastify app.
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import Fastify, { LogController, type FastifyInstance } from "fastify";
import { moduleLogger, type Logger } from "../core/log.ts";
import { GrpcStatusError, OrchestratorService, type OrchestratorHandlers } from "./grpc-service.ts";
import { routeGrpcLogging } from "./grpc-logging.ts";


const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export interface ProtocolServerOptions {
  /** PEM key/cert for TLS; omit for plaintext (h2c gRPC + HTTP/1.1). */
  tls?: { key: string; cert: string };
  grpc: OrchestratorHandlers;
  logger?: Logger;
  /** fastify bodyLimit in bytes (default 64 MiB: segments and AI uploads). */
  bodyLimit?: number;
}

export interface ProtocolServer {
  /** Register HTTP routes here before `listen`. */
  readonly app: FastifyInstance;
  readonly secure: boolean;
  /** Port after `listen` (0 before). */
  readonly port: number;
  listen(port: number, host?: string): Promise<number>;
  /** HTTP/1.1 upgrade requests (WebSocket) go here; fastify does not route them. Unhandled: the socket is closed. */
  onUpgrade(handler: (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void): void;
  /** Stop accepting, let in-flight requests finish for up to graceMs, then drop connections. */
  close(graceMs?: number): Promise<void>;
}

type AnyReq = http.IncomingMessage | http2.Http2ServerRequest;
type AnyRes = http.ServerResponse | http2.Http2ServerResponse;

function grpcError(err: unknown): grpc.ServiceError {
  const code = err instanceof GrpcStatusError ? err.code : grpc.status.INTERNAL;
  const e = new Error(err instanceof Error ? err.message : String(err)) as grpc.ServiceError;
  e.code = code;
  e.details = e.message;
  e.metadata = new grpc.Metadata();
  return e;
}

function unaryHandler<Req, Res>(fn: (req: Req, peer: string) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request, call.getPeer()))
      .then(
        (res) => callback(null, res),
        (err) => callback(grpcError(err)),
      );
  };
}

export async function createProtocolServer(opts: ProtocolServerOptions): Promise<ProtocolServer> {
  const log = opts.logger ?? moduleLogger("protocol-server");

  // --- the real gRPC server on an internal loopback port
  routeGrpcLogging();
  const grpcServer = new grpc.Server({ "grpc.max_receive_message_length": 16 * 1024 * 1024 });
  const h = opts.grpc;
  grpcServer.addService(OrchestratorService, {
    GetOrchestrator: unaryHandler(h.getOrchestrator.bind(h)),
    EndTranscodingSession: unaryHandler((req) => (h.endTranscodingSession ? h.endTranscodingSession(req) : {})),
    Ping: unaryHandler((req) => (h.ping ? h.ping(req) : { value: req.value })),
  });
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );

  // One pooled h2c session to the internal gRPC server.
  let upstream: http2.ClientHttp2Session | undefined;
  const upstreamSession = (): http2.ClientHttp2Session => {
    if (upstream && !upstream.closed && !upstream.destroyed) return upstream;
    const s = http2.connect(`http://127.0.0.1:${grpcPort}`);
    s.on("error", (err) => log.debug({ err: err.message }, "internal gRPC session error"));
    s.on("close", () => {
      if (upstream === s) upstream = undefined;
    });
    s.unref();
    upstream = s;
    return s;
  };

  const proxyGrpc = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void => {
    const down = res.stream;
    const headers: http2.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (k === ":scheme" || k === "connection" || k === "keep-alive" || k === "transfer-encoding") continue;
      headers[k] = v;
    }
    headers[":scheme"] = "http";
    let up: http2.ClientHttp2Stream;
    const failEarly = (message: string) => {
      if (down.destroyed || down.closed) return;
      if (!down.headersSent) {
        down.respond(
          { ":status": 200, "content-type": "application/grpc", "grpc-status": String(grpc.status.UNAVAILABLE), "grpc-message": encodeURIComponent(message) },
          { endStream: true },
        );
      } else {
        down.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      }
    };
    try {
      up = upstreamSession().request(headers, { endStream: false });
    } catch (err) {
      failEarly(`gRPC backend unavailable: ${(err as Error).message}`);
      return;
    }
    // The compat response sends its trailers (res.addTrailers) on the stream's wantTrailers.
    let gotTrailers = false;
    up.on("response", (resHeaders, flags) => {
      if (down.destroyed || down.closed) return;
      const out: http2.OutgoingHttpHeaders = { ...resHeaders };
      const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      if (endStream) {
        down.respond(out, { endStream: true }); // trailers-only response
        return;
      }
      down.respond(out, { waitForTrailers: true });
      up.on("end", () => {
        if (!gotTrailers) res.addTrailers({ "grpc-status": String(grpc.status.INTERNAL), "grpc-message": "missing trailers" });
      });
      up.pipe(down);
    });
    up.on("trailers", (t) => {
      gotTrailers = true;
      const out: http2.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(t)) if (typeof v === "string" || Array.isArray(v)) out[k] = v;
      res.addTrailers(out as Record<string, string>);
    });
    up.on("error", (err) => failEarly(`gRPC backend error: ${err.message}`));
    down.on("close", () => {
      if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL);
    });
    req.on("error", () => up.close(http2.constants.NGHTTP2_CANCEL));
    req.pipe(up);
  };

  // --- the fastify app (driven through serverFactory; we own the listeners)
  let fastifyHandler: ((req: AnyReq, res: AnyRes) => void) | undefined;
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? 64 * 1024 * 1024,
    serverFactory: (handler) => {
      fastifyHandler = handler as unknown as (req: AnyReq, res: AnyRes) => void;
      return http.createServer();
    },
  }) as unknown as FastifyInstance;

  const onRequest = (req: AnyReq, res: AnyRes): void => {
    const ct = req.headers["content-type"];
    if (req.httpVersionMajor === 2 && typeof ct === "string" && ct.startsWith("application/grpc")) {
      proxyGrpc(req as http2.Http2ServerRequest, res as http2.Http2ServerResponse);
      return;
    }
    fastifyHandler!(req, res);
  };

  // --- listeners
  const sockets = new Set<net.Socket>();
  const h2Sessions = new Set<http2.ServerHttp2Session>();
  const trackSessions = (s: http2.Http2Server | http2.Http2SecureServer) =>
    s.on("session", (session: http2.ServerHttp2Session) => {
      h2Sessions.add(session);
      session.on("close", () => h2Sessions.delete(session));
      session.on("error", () => {});
    });

  let upgradeHandler: ((req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void) | undefined;
  const onUpgrade = (req: http.IncomingMessage, socket: net.Socket, head: Buffer): void => {
    // Node takes its own error listener off an upgraded socket: a client resetting it before the
    // handler adds one would otherwise be an uncaught error.
    socket.on("error", () => socket.destroy());
    if (upgradeHandler) upgradeHandler(req, socket, head);
    else socket.destroy();
  };
  let outer: net.Server;
  let http1: http.Server | undefined;
  if (opts.tls) {
    // noDelay: an answer written as head then body must not wait for the client's delayed ACK (~40 ms).
    const secure = http2.createSecureServer({ key: opts.tls.key, cert: opts.tls.cert, allowHTTP1: true, noDelay: true }, onRequest);
    trackSessions(secure);
    secure.on("tlsClientError", () => {});
    // HTTP/1.1 clients reach the secure server through allowHTTP1, upgrades included.
    secure.on("upgrade", onUpgrade);
    outer = secure;
  } else {
    const h2c = http2.createServer({}, onRequest);
    trackSessions(h2c);
    http1 = http.createServer(onRequest);
    http1.keepAliveTimeout = 10_000;
    http1.on("upgrade", onUpgrade);
    const h1 = http1;
    // Sockets handed to the HTTP servers from here never get Node's own noDelay: without it an
    // answer written as head then body waits for the client's delayed ACK (~40 ms per request).
    outer = net.createServer({ noDelay: true }, (socket) => {
      socket.on("error", () => {});
      let buf: Buffer = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        const n = Math.min(buf.length, H2_PREFACE.length);
        const isPrefix = buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
        if (isPrefix && buf.length < H2_PREFACE.length) return; // need more bytes to decide
        socket.off("data", onData);
        socket.pause();
        socket.unshift(buf);
        if (isPrefix) {
          // http2 reads the unshifted bytes itself (socket.readableLength) on the next tick.
          h2c.emit("connection", socket);
        } else {
          h1.emit("connection", socket);
          socket.resume();
        }
      };
      socket.on("data", onData);
    });
  }
  outer.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  let port = 0;
  let closed = false;
  const server: ProtocolServer = {
    app,
    secure: Boolean(opts.tls),
    get port() {
      return port;
    },
    async listen(p: number, host = "127.0.0.1") {
      await app.ready();
      await new Promise<void>((resolve, reject) => {
        outer.once("error", reject);
        outer.listen(p, host, () => {
          outer.off("error", reject);
          resolve();
        });
      });
      port = (outer.address() as net.AddressInfo).port;
      return port;
    },
    onUpgrade(handler) {
      upgradeHandler = handler;
    },
    async close(graceMs = 2000) {
      if (closed) return;
      closed = true;
      const stopped = new Promise<void>((resolve) => outer.close(() => resolve()));
      for (const s of h2Sessions) s.close();
      http1?.closeIdleConnections();
      const timer = setTimeout(() => {
        for (const s of h2Sessions) s.destroy();
        for (const s of sockets) s.destroy();
      }, graceMs);
      await stopped;
      clearTimeout(timer);
      upstream?.destroy();
      await app.close();
      await new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
    },
  };
  return server;
}
