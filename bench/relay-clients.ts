// The HTTP client behind a relay, measured alone: two minimal relays side by side, the same
// node:http server in front of the same upstream, one forwarding with undici's `dispatch` (as
// protocol/http-relay.ts does for single-shot app runs) and one with `http.request` over a
// keep-alive agent (as bench/support/bare-app-proxy.ts does). Each relay and the upstream is a
// process of its own; the load alternates between the relays in 1 s slices. Prints latency and
// each relay's CPU per request, so the choice of client for the relay rests on a number (see
// docs/benchmarks.md, apps).
//
//   node --import tsx bench/relay-clients.ts [--seconds 10] [--clients 16]
import { createServer, request as httpRequest, Agent as HttpAgent, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { Agent } from "undici";
import { readRequestBody } from "../core/request-body.ts";
import { spawnListening } from "../test/support/listening-process.ts";
import { loadInterleaved } from "./support/load.ts";
import { cpuSeconds } from "./support/proc.ts";

const BODY = JSON.stringify({ prompt: "benchmark", n: 1 });
const SCRIPT = "bench/relay-clients.ts";
const readBody = (req: IncomingMessage) => readRequestBody(req, 1024 * 1024);

function listen(server: ReturnType<typeof createServer>): void {
  server.listen(0, "127.0.0.1", () => process.stdout.write(`${JSON.stringify({ listening: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`));
}

/** The upstream: answers every POST with a small JSON echo. */
function upstream(): void {
  listen(createServer((req, res) => void readBody(req).then((b) => res.writeHead(200, { "content-type": "application/json" }).end(`{"echo":${b.length}}`))));
}

/** A relay to the upstream at `origin` with the client `mode`. */
function relay(mode: string, origin: string): void {
  const { port } = new URL(origin);
  const undici = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  listen(
    createServer((req, res) => {
      void readBody(req).then((body) => {
        const headers = { "content-type": "application/json", "content-length": String(body.length) };
        if (mode === "undici") {
          undici.dispatch(
            { origin, path: req.url!, method: "POST", headers, body },
            {
              onRequestStart() {},
              onResponseStart(_c, status, h) {
                res.writeHead(status, h as Record<string, string>);
              },
              onResponseData(_c, chunk) {
                res.write(chunk);
              },
              onResponseEnd() {
                res.end();
              },
              onResponseError(_c, err) {
                res.destroy(err);
              },
            },
          );
          return;
        }
        const up = httpRequest({ host: "127.0.0.1", port: Number(port), method: "POST", path: req.url, agent, headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        up.on("error", (err) => res.destroy(err));
        up.end(body);
      });
    }),
  );
}

const role = process.argv[2];
if (role === "upstream") upstream();
else if (role === "relay") relay(process.argv[3]!, process.argv[4]!);
else {
  const { values } = parseArgs({ options: { seconds: { type: "string", default: "10" }, clients: { type: "string", default: "16" } } });
  const up = await spawnListening(SCRIPT, ["upstream"]);
  const relays = { undici: await spawnListening(SCRIPT, ["relay", "undici", up.url]), "node:http": await spawnListening(SCRIPT, ["relay", "http", up.url]) };
  try {
    const cpu: Record<string, number> = { undici: 0, "node:http": 0 };
    let mark = 0;
    const post = (origin: string) => async (agent: Agent) => {
      const res = await agent.request({ origin, path: "/run", method: "POST", headers: { "content-type": "application/json" }, body: BODY });
      await res.body.dump();
      return res.statusCode;
    };
    const r = await loadInterleaved(Number(values.clients), Number(values.seconds), 1000, { undici: post(relays.undici.url), "node:http": post(relays["node:http"].url) }, (name, phase) => {
      const now = cpuSeconds(relays[name].proc.pid) * 1000;
      if (phase === "start") mark = now;
      else cpu[name]! += now - mark;
    });
    console.log(`relay client, ${values.clients} clients, ${values.seconds} s each in 1 s slices`);
    for (const [name, x] of Object.entries(r)) {
      console.log(`  ${name.padEnd(9)} p50 ${x.p50.toFixed(2)} p99 ${x.p99.toFixed(2)} ms (${x.rps.toFixed(0)}/s, ${x.errors} errors)  relay CPU per request ${((1000 * cpu[name]!) / x.requests).toFixed(1)} µs`);
    }
  } finally {
    for (const p of [up, ...Object.values(relays)]) p.proc.kill("SIGTERM");
  }
}
