// A TCP proxy in front of a development orchestrator that can start answering garbage: every byte
// the orchestrator sends back (gRPC, segment results, trickle media) replaced by random bytes.
import { randomBytes } from "node:crypto";
import { createServer, connect, type Server, type Socket } from "node:net";

export interface FaultProxy {
  url: string;
  port: number;
  /** Where connections go (set once the orchestrator is up, since it advertises the proxy's URL). */
  upstreamPort: number;
  garbage: boolean;
  close(): Promise<void>;
}

export async function startFaultProxy(): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  const proxy: FaultProxy = {
    url: "",
    port: 0,
    upstreamPort: 0,
    garbage: false,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  const server: Server = createServer((client) => {
    track(client);
    const upstream = connect(proxy.upstreamPort, "127.0.0.1");
    track(upstream);
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => client.write(proxy.garbage ? randomBytes(d.length) : d));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  proxy.port = (server.address() as { port: number }).port;
  proxy.url = `http://127.0.0.1:${proxy.port}`;
  return proxy;
}
