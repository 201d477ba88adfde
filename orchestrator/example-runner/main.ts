// The example runner app: the smallest Live Runner (and BYOC container) that exercises every way
// an app is reached. GET /health; POST /v1/json answers the JSON it got with the runner's name
// (?delayMs=N holds the answer back N ms, up to a minute: a slow model, for timeouts and clients that leave);
// GET /v1/events is an SSE stream (?count=N&intervalMs=M events, each sent as it is made);
// WebSocket /v1/ws echoes every message. `npm run orchestrator -- --runners FILE` registers it.
import http from "node:http";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { WebSocketServer } from "ws";

export interface ExampleRunner {
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

const MAX_JSON_BYTES = 1024 * 1024;

export async function startExampleRunner(opts: { port?: number; host?: string; name?: string } = {}): Promise<ExampleRunner> {
  const name = opts.name ?? "example-runner";
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://runner");
    if (req.method === "GET" && url.pathname === "/health") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "OK", runner: name }));
      return;
    }
    if (req.method === "GET" && url.pathname === "/v1/events") {
      // Not a number: the default (NaN would make an endless stream).
      const count = Math.min(1000, Math.max(0, Number(url.searchParams.get("count") ?? 5) || 5));
      const intervalMs = Math.min(60_000, Math.max(0, Number(url.searchParams.get("intervalMs") ?? 200) || 0));
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
      res.flushHeaders();
      let n = 0;
      const tick = () => {
        if (res.destroyed) return;
        res.write(`id: ${n}\nevent: tick\ndata: ${JSON.stringify({ n, at: Date.now(), runner: name })}\n\n`);
        if (++n >= count) res.end();
        else setTimeout(tick, intervalMs);
      };
      tick();
      return;
    }
    if (url.pathname.startsWith("/v1/json") || url.pathname.startsWith("/process")) {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_JSON_BYTES) req.destroy();
        else chunks.push(c);
      });
      const delayMs = Math.min(60_000, Math.max(0, Number(url.searchParams.get("delayMs")) || 0));
      const answer = () => {
        if (res.destroyed) return;
        let body: unknown = null;
        try {
          body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : null;
        } catch {
          res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: "body is not JSON" }));
          return;
        }
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({ runner: name, path: url.pathname, method: req.method, echo: body, session: req.headers["livepeer-session-id"] ?? null }),
        );
      };
      req.on("end", () => (delayMs > 0 ? setTimeout(answer, delayMs).unref() : answer()));
      return;
    }
    res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: "not_found", path: url.pathname }));
  });
  server.on("upgrade", (req, socket, head) => {
    socket.on("error", () => socket.destroy()); // Node removed its own; a reset must not crash the runner
    if (!(req.url ?? "").startsWith("/v1/ws")) {
      socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${opts.host ?? "127.0.0.1"}:${port}`,
    server,
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients) c.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: "string" }, host: { type: "string" }, name: { type: "string" } } });
  const r = await startExampleRunner({ port: values.port ? Number(values.port) : 0, host: values.host, name: values.name });
  if (process.env.WHARF_EXIT_WITH_PARENT) {
    process.stdin.on("close", () => process.exit(0));
    process.stdin.resume();
  }
  process.on("SIGTERM", () => void r.close().then(() => process.exit(0)));
  process.stdout.write(`${JSON.stringify({ listening: r.url })}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`example runner failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
