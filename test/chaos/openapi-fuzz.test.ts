// Chaos: property-based fuzzing (fast-check) of every route in the OpenAPI document Wharf serves,
// as the admin: bodies derived from the schemas, arbitrary JSON and garbage, odd query and path
// parameters. No answer is a 5xx (but a batch AI 503 naming busy orchestrators), the process
// stays alive, /healthz keeps answering.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { healthzProbe } from "./probes.ts";

const RUNS_PER_ROUTE = 30;
/** Methods fetch refuses to send (a route registered for every method lists them too). */
const UNSENDABLE_METHODS = new Set(["trace", "connect"]);
const REQUEST_TIMEOUT_MS = 10000;

type Schema = { type?: string | string[]; properties?: Record<string, Schema>; required?: string[]; items?: Schema; enum?: unknown[]; const?: unknown; anyOf?: Schema[]; oneOf?: Schema[]; minimum?: number; maximum?: number; minLength?: number; maxLength?: number; minItems?: number; maxItems?: number; additionalProperties?: boolean | Schema; $ref?: string };
type Operation = { parameters?: Array<{ in: string; name: string; schema?: Schema; required?: boolean }>; requestBody?: { content?: Record<string, { schema?: Schema }> } };

let w: WharfProcess | undefined;
let orch: OrchestratorProcess | undefined;
after(async () => {
  await w?.stop();
  await orch?.kill();
});

/** Values a schema accepts, and values near its edges (a schema-driven arbitrary, depth-bounded). */
function fromSchema(s: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!s || depth > 4) return fc.jsonValue({ maxDepth: 2 });
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return fc.oneof(...alts.map((a) => fromSchema(a, depth + 1)));
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case "string":
      return fc.oneof(fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 40, 200) }), fc.constantFrom("", "x".repeat(5000), "../../etc/passwd", "\u0000", "😀", "P144p30fps16x9,P240p30fps16x9", "transcode", "text-to-image"));
    case "integer":
      return fc.oneof(fc.integer({ min: s.minimum ?? -1e6, max: s.maximum ?? 1e6 }), fc.constantFrom(0, -1, 2 ** 31, Number.MAX_SAFE_INTEGER));
    case "number":
      return fc.oneof(fc.double({ min: s.minimum ?? -1e9, max: s.maximum ?? 1e9, noNaN: true }), fc.constantFrom(0, -0.5, 1e308));
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array":
      return fc.array(fromSchema(s.items, depth + 1), { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 5, 20) });
    case "object":
    default: {
      const props = s.properties ?? {};
      const required = new Set(s.required ?? []);
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(props)) model[k] = fromSchema(v, depth + 1);
      if (Object.keys(model).length === 0) return fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 });
      return fc.record(model, { requiredKeys: Object.keys(model).filter((k) => required.has(k) || Math.random() < 0.5) });
    }
  }
}

/** A body for a route: schema-shaped most of the time, otherwise any JSON or bytes that are not JSON. */
function bodyArbitrary(schema: Schema | undefined): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 5, arbitrary: fromSchema(schema).map((v) => JSON.stringify(v) ?? "null") },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constantFrom("", "{", "[".repeat(5000), `{"a":${"[".repeat(5000)}`, "null", "\"\"", "1e999", "{\"__proto__\":{\"x\":1}}") },
  );
}

function paramArbitrary(schema: Schema | undefined, known: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fromSchema(schema).map((v) => (typeof v === "string" ? v : JSON.stringify(v) ?? "")),
    fc.string({ maxLength: 60 }),
    fc.constantFrom("", "..", "%", "%00", "x".repeat(3000), "-1", "1e999", ...(known.length ? known : ["none"])),
  );
}

test("every OpenAPI route fuzzed as the admin: no 5xx, alive, /healthz fine", { timeout: 150000 }, async () => {
  orch = await startOrchestratorProcess(["--ai-zero-cost", "--no-live", "--capacity", "2"], { http: true });
  w = await startWharf({ env: { WHARF_ORCH_ADDR: orch.url } });
  const doc = (await (await fetch(`${w.http}/docs/openapi.json`)).json()) as { paths: Record<string, Record<string, Operation>> };
  // Real ids, so some requests reach the code behind the "not found" check.
  const stream = (await w.api("POST", "/v1/streams", { name: "fuzz", pipeline: "passthrough" })).body as { id: string };
  const key = (await w.api("POST", "/v1/keys", { name: "fuzz", scopes: ["ai"] })).body as { key?: { id: string }; id?: string };
  const known = [stream.id, key.key?.id ?? key.id ?? ""].filter(Boolean);

  const probe = healthzProbe(w.http, 100);
  const fiveXx: string[] = [];
  const statuses = new Map<number, number>();
  let requests = 0;
  const routes: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (UNSENDABLE_METHODS.has(method)) continue;
      routes.push(`${method.toUpperCase()} ${path}`);
      const params = op.parameters ?? [];
      const pathParams = params.filter((p) => p.in === "path");
      const queryParams = params.filter((p) => p.in === "query");
      const bodySchema = op.requestBody?.content?.["application/json"]?.schema;
      const takesBody = method === "post" || method === "patch" || method === "put";
      const request = fc.record({
        path: fc.tuple(...pathParams.map((p) => paramArbitrary(p.schema, known)), fc.constant("")),
        query: fc.tuple(...queryParams.map((p) => fc.option(paramArbitrary(p.schema, known), { nil: undefined })), fc.constant(undefined)),
        body: takesBody ? bodyArbitrary(bodySchema) : fc.constant(undefined),
        contentType: fc.constantFrom("application/json", "application/json", "application/json", "text/plain", "application/json; charset=utf-16"),
      });
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          let url = path;
          pathParams.forEach((p, i) => (url = url.replace(`{${p.name}}`, encodeURIComponent(r.path[i]!))));
          const qs = new URLSearchParams();
          queryParams.forEach((p, i) => r.query[i] !== undefined && qs.set(p.name, r.query[i]!));
          const target = `${w!.http}${url}${qs.size ? `?${qs}` : ""}`;
          const controller = new AbortController();
          const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
          let status: number;
          let text = "";
          try {
            const res = await fetch(target, {
              method: method.toUpperCase(),
              headers: { authorization: `Bearer ${w!.adminKey}`, ...(r.body !== undefined ? { "content-type": r.contentType } : {}) },
              body: r.body,
              signal: controller.signal,
            });
            status = res.status;
            // Server-Sent Events stream forever: the status is the answer, then hang up.
            if (res.headers.get("content-type")?.startsWith("text/event-stream")) controller.abort();
            else text = await res.text();
          } catch (err) {
            fiveXx.push(`${method.toUpperCase()} ${target.slice(w!.http.length, 300)} body=${String(r.body).slice(0, 200)} -> ${(err as Error).message} ${String((err as Error).cause ?? "")}`);
            return true;
          } finally {
            clearTimeout(timer);
          }
          requests++;
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          // A batch AI 503 is the admission queue or the orchestrators saying "busy": an answer, not a defect.
          const busy = status === 503 && !path.startsWith("/v1/") && /busy|capacity|queue|Retry/i.test(text);
          if (status >= 500 && !busy) {
            fiveXx.push(`${method.toUpperCase()} ${target.slice(w!.http.length, 300)} body=${String(r.body).slice(0, 200)} -> ${status} ${text.slice(0, 300)}`);
          }
          return true;
        }),
        { numRuns: RUNS_PER_ROUTE, endOnFailure: true },
      );
    }
  }
  const latency = await probe.stop();
  const byStatus = [...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(" ");
  console.log(`openapi-fuzz: ${routes.length} routes, ${requests} requests (${byStatus}); ${fiveXx.length} unexpected 5xx; /healthz p99 ${latency.p99.toFixed(1)} ms, ${latency.failures} failed`);
  for (const line of fiveXx) console.log(`openapi-fuzz 5xx: ${line.slice(0, 600)}`);
  assert.deepEqual(fiveXx.slice(0, 20), [], `${fiveXx.length} requests answered 5xx`);
  assert.equal(w.proc.exitCode, null, "Wharf is alive");
  assert.equal((await fetch(`${w.http}/healthz`)).status, 200);
  assert.equal(latency.failures, 0);
});
