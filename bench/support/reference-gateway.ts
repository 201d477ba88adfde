// A bare reference gateway for bench/ai-overhead.ts --reference: the same network hops as
// a batch AI request through Wharf, and nothing else. It reads the JSON body, calls the
// orchestrator with the Livepeer headers (protocol/http-exchange.ts, as Wharf does),
// answers with its own result URL, then copies the result from the orchestrator into
// memory. No fastify, auth, validation, selection, billing or metrics.
//
// Measured beside Wharf, it tells how much of the overhead is the machine (one more
// process and three more HTTP exchanges sharing the cores) and how much is Wharf.
//
//   ORCH_URL=<transcoder URL> ORCH_HEADERS='<json>' node --import tsx bench/support/reference-gateway.ts
//   prints {"listening":"http://127.0.0.1:<port>"}
import { createServer } from "node:http";
import { Agent } from "undici";
import { exchange } from "../../protocol/http-exchange.ts";

const orch = new URL(process.env.ORCH_URL!);
const orchHeaders = JSON.parse(process.env.ORCH_HEADERS!) as Record<string, string>;
const base = orch.pathname.replace(/\/+$/, "");
const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
const results = new Map<number, Buffer>();
let next = 0;

async function handle(body: Buffer): Promise<{ status: number; json: string; copyFrom?: URL; id?: number }> {
  const req = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
  const res = await exchange(dispatcher, { origin: orch.origin, path: `${base}/text-to-image`, method: "POST", headers: orchHeaders, body: JSON.stringify(req), timeoutMs: 30_000, maxBytes: 1 << 20 }).response;
  if (!("body" in res) || res.status !== 200) return { status: 502, json: '{"error":"orchestrator failed"}' };
  const answer = JSON.parse(res.body.toString("utf8")) as { images: { url: string; seed: number }[] };
  const image = answer.images[0]!;
  const id = ++next;
  return { status: 200, json: JSON.stringify({ images: [{ url: `/results/${id}`, seed: image.seed, nsfw: false }] }), copyFrom: new URL(image.url, `${orch.href.replace(/\/+$/, "")}/`), id };
}

async function copy(from: URL, id: number): Promise<void> {
  const res = await exchange(dispatcher, { origin: from.origin, path: from.pathname, method: "GET", timeoutMs: 30_000, maxBytes: 1 << 24 }).response;
  if ("body" in res) results.set(id, res.body);
  if (results.size > 100_000) results.clear();
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    handle(Buffer.concat(chunks)).then(
      (r) => {
        res.writeHead(r.status, { "content-type": "application/json", "content-length": Buffer.byteLength(r.json) });
        res.end(r.json);
        if (r.copyFrom) setImmediate(() => copy(r.copyFrom!, r.id!).catch(() => {}));
      },
      (err: Error) => {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: err.message }));
      },
    );
  });
});
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ listening: `http://127.0.0.1:${port}` })}\n`);
});
process.on("SIGTERM", () => process.exit(0));
