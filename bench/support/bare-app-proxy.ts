// A bare Node proxy for bench/apps-overhead.ts: the same extra hop as Wharf's app proxy and
// nothing else. HTTP requests are streamed to TARGET (its path prefix + the request's path) over
// keep-alive connections; a WebSocket upgrade is forwarded byte for byte on a TCP connection to
// TARGET. No fastify, auth, selection, billing or metrics.
//
//   TARGET=http://127.0.0.1:<port>/apps/json/app node --import tsx bench/support/bare-app-proxy.ts
//   prints {"listening":"http://127.0.0.1:<port>"}
import { createServer, request as httpRequest, Agent } from "node:http";
import { connect, type Socket } from "node:net";

const target = new URL(process.env.TARGET!);
const prefix = target.pathname.replace(/\/+$/, "");
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

const server = createServer((req, res) => {
  const up = httpRequest(
    { host: target.hostname, port: target.port, method: req.method, path: `${prefix}${req.url}`, headers: { ...req.headers, host: target.host }, agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  up.on("error", () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(up);
});

server.on("upgrade", (req, socket, head) => {
  const up = connect(Number(target.port), target.hostname, () => {
    const lines = [`${req.method} ${prefix}${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      lines.push(`${name}: ${name.toLowerCase() === "host" ? target.host : req.rawHeaders[i + 1]}`);
    }
    up.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (head.length) up.write(head);
    up.setNoDelay(true);
    (socket as Socket).setNoDelay(true);
    up.pipe(socket);
    socket.pipe(up);
  });
  up.on("error", () => socket.destroy());
  socket.on("error", () => up.destroy());
});

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ listening: `http://127.0.0.1:${port}` })}\n`);
});
process.on("SIGTERM", () => process.exit(0));
