// Apps through Wharf, as a customer uses them: the catalogue, a persistent Live Runner session
// (WebSocket echo, SSE as the runner sends it, paid per second through the signer and verified by
// the paying orchestrators, billed per second, DELETE releases the runner), single-shot requests
// (proxied, billed, moved to another runner when one dies), all runners busy -> 503, a key over its
// spend cap refused (402), and a BYOC job with go-livepeer's `Livepeer` header. Then, with Wharf
// configured with only a remote signer: apps found through the signer's discovery, a running session
// stopped when its key crosses the spend cap, and sessions whose orchestrator or runner dies ended
// with a reason and an app.session_ended event delivered by webhook.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { spawnListening, type ListeningProcess } from "../support/listening-process.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";
import { MAX_RUN_BODY_BYTES } from "../../server/apps/routes.ts";
import { encodeByocHeader } from "../../protocol/apps/live-runner.ts";
import { appCapacity, credited, paymentAccount } from "../support/apps.ts";
import { verifySignature } from "../../server/webhooks/signature.ts";

const SESSION_APP = encodeURIComponent("example/echo");
const RUN_APP = encodeURIComponent("example/json");

function runnersFile(dir: string, name: string, runnerUrl: string): string {
  const common = { routing: "label", runner_url: runnerUrl, health_url: `${runnerUrl}/health`, version: "1" };
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ runners: [
    { ...common, label: "echo", app: "example/echo", mode: "persistent", capacity: 1, price_info: { price: 0.01, currency: "usd", unit: "hour" } },
    { ...common, label: "json", app: "example/json", mode: "single-shot", capacity: 2, price_info: { price: 0.00001, currency: "usd", unit: "fixed" } },
  ] }));
  return file;
}

const echoCapacity = (o: OrchestratorProcess) => appCapacity(o) as Promise<number>;

describe("apps through Wharf", { timeout: 180_000 }, () => {
  let r1: ListeningProcess;
  let r2: ListeningProcess;
  let signer: ListeningProcess;
  let a: OrchestratorProcess;
  let b: OrchestratorProcess;
  let w: WharfProcess;
  let key: string;
  let keyId: string;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "wharf-e2e-apps-"));
    [r1, r2, signer] = await Promise.all([
      spawnListening("orchestrator/example-runner/main.ts", ["--name", "r1"]),
      spawnListening("orchestrator/example-runner/main.ts", ["--name", "r2"]),
      spawnListening("signer/main.ts", ["--port", "0", "--http", "--data-dir", join(dir, "signer")]),
    ]);
    const args = (file: string) => ["--no-ai", "--no-live", "--require-payment", "--runners", file, "--runner-health-ms", "300", "--app-payment-interval-ms", "1000", "--orch-secret", "s3cret"];
    [a, b] = await Promise.all([
      startOrchestratorProcess(args(runnersFile(dir, "a", r1.url)), { http: true }),
      startOrchestratorProcess(args(runnersFile(dir, "b", r2.url)), { http: true }),
    ]);
    w = await startWharf({ env: { WHARF_ORCH_ADDR: `${a.url},${b.url}`, WHARF_REMOTE_SIGNER_URL: signer.url, WHARF_LIVE_PAYMENT_INTERVAL: "1" } });
    const k = await w.api("POST", "/v1/keys", { name: "apps", scopes: ["ai"] });
    key = k.body.secret;
    keyId = k.body.key.id;
  });
  after(async () => {
    await w?.stop();
    await Promise.allSettled([a?.kill(), b?.kill()]);
    for (const p of [r1, r2, signer]) p?.proc.kill("SIGKILL");
  });

  test("GET /v1/apps lists both apps with customer prices and free capacity; /v1/orchestrators shows the runners", async () => {
    const apps = await waitFor("apps discovered", async () => {
      const r = await w.api("GET", "/v1/apps", undefined, key);
      return r.body.apps?.length === 2 ? r.body.apps : undefined;
    }, 15_000, 200);
    const echo = apps.find((x: { app: string }) => x.app === "example/echo");
    assert.equal(echo.mode, "persistent");
    assert.equal(echo.capacityAvailable, 2);
    assert.equal(echo.price.per, "hour");
    // 0.01 USD/hour at the orchestrators, +20 % (the default price book's margin).
    assert.ok(Math.abs(echo.price.amount - 0.012) < 0.0001, JSON.stringify(echo.price));
    const orchs = (await w.api("GET", "/v1/orchestrators")).body.orchestrators;
    assert.ok(orchs.every((o: { apps: { runners: unknown[] } }) => o.apps.runners.length === 2));
  });

  test("a persistent session: WebSocket echo, SSE as sent, paid per second, billed per second, DELETE releases the runner", async () => {
    const before = (await credited(a)) + (await credited(b));
    const opened = await w.api("POST", `/v1/apps/${SESSION_APP}/sessions`, undefined, key);
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    const s = opened.body;
    const orch = s.orchestrator === a.url ? a : b;

    const ws = new WebSocket(`${s.wsUrl}v1/ws`, { headers: { authorization: `Bearer ${key}` } });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    for (const msg of ["one", "two", "three"]) {
      const got = new Promise<string>((resolve) => ws.once("message", (m) => resolve(String(m))));
      ws.send(msg);
      assert.equal(await got, msg);
    }
    ws.close();

    // Events arrive as the runner sends them (300 ms apart), not at the end.
    const res = await fetch(`${s.appUrl}v1/events?count=4&intervalMs=300`, { headers: { authorization: `Bearer ${key}`, origin: "http://app.example" } });
    assert.equal(res.headers.get("access-control-allow-origin"), "http://app.example", "a session's proxied answer carries CORS");
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const arrivals: number[] = [];
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) {
      const n = (decoder.decode(chunk as Uint8Array).match(/event: tick/g) ?? []).length;
      for (let i = 0; i < n; i++) arrivals.push(Date.now());
    }
    assert.equal(arrivals.length, 4);
    assert.ok(arrivals[3]! - arrivals[0]! >= 700, `events spread over time: ${arrivals.map((t) => t - arrivals[0]!)}`);

    assert.equal(await echoCapacity(orch), 0, "the runner's slot is reserved");
    await new Promise((r) => setTimeout(r, 2500));
    assert.ok((await credited(a)) + (await credited(b)) > before, "the orchestrator credited tickets");
    const ended = await w.api("DELETE", `/v1/apps/${SESSION_APP}/sessions/${s.id}`, undefined, key);
    assert.equal(ended.status, 200);
    assert.equal(ended.body.endReason, "stopped");
    assert.ok(ended.body.billedSeconds >= 4, `billed per second: ${ended.body.billedSeconds}`);
    assert.equal(await echoCapacity(orch), 1, "DELETE released the runner's slot");
    const usage = (await w.api("GET", `/v1/usage?key=${keyId}&pipeline=apps`)).body;
    const seconds = usage.records.reduce((n: number, r: { durationSeconds?: number }) => n + (r.durationSeconds ?? 0), 0);
    assert.equal(seconds, ended.body.billedSeconds);
    assert.ok(usage.total.chargeMicros > 0);
    assert.ok(BigInt(usage.total.paidWei) > 0n, "the ledger records what was paid");
  });

  test("every runner busy: a third session is refused with 503, Retry-After and a reason", async () => {
    const x = await w.api("POST", `/v1/apps/${SESSION_APP}/sessions`, undefined, key);
    const y = await w.api("POST", `/v1/apps/${SESSION_APP}/sessions`, undefined, key);
    assert.equal(x.status, 201);
    assert.equal(y.status, 201, JSON.stringify(y.body));
    const z = await w.api("POST", `/v1/apps/${SESSION_APP}/sessions`, undefined, key);
    assert.equal(z.status, 503);
    assert.ok(Number(z.headers.get("retry-after")) >= 1);
    assert.match(z.body.message, /busy/);
    await w.api("DELETE", `/v1/apps/${SESSION_APP}/sessions/${x.body.id}`, undefined, key);
    await w.api("DELETE", `/v1/apps/${SESSION_APP}/sessions/${y.body.id}`, undefined, key);
  });

  test("a key over its spend cap cannot open a session (402)", async () => {
    const capped = (await w.api("POST", "/v1/keys", { name: "capped", scopes: ["ai"], spendCaps: { daily: 0.000001 } })).body.secret;
    const r = await w.api("POST", `/v1/apps/${SESSION_APP}/sessions`, undefined, capped);
    assert.equal(r.status, 402, JSON.stringify(r.body));
    assert.equal(r.body.error, "spend_cap_reached");
  });

  test("BYOC: POST /process/request/{path} with a go-livepeer Livepeer header returns the container's answer", async () => {
    const reg = await fetch(`${b.url}/capability/register`, { method: "POST", headers: { authorization: "s3cret" }, body: JSON.stringify({ name: "echo-box", url: r2.url, capacity: 2, price_per_unit: 1000, price_scaling: 1, currency: "wei" }) });
    assert.equal(reg.status, 200);
    await waitFor("BYOC capability discovered", async () => (await w.api("GET", "/v1/apps", undefined, key)).body.byoc?.length === 1 || undefined, 15_000, 200);
    const res = await fetch(`${w.http}/process/request/process/echo`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, Livepeer: encodeByocHeader({ capability: "echo-box", request: JSON.stringify({ run: "x" }) }), "content-type": "application/json" },
      body: JSON.stringify({ prompt: "hi" }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { runner: string; echo: unknown };
    assert.deepEqual(body.echo, { prompt: "hi" });
    assert.equal(body.runner, "r2");

    // Paid as go-livepeer's orchestrator asks (a job token, then tickets with the signed job): the
    // orchestrator holds Wharf's balance for the capability and debits whole seconds at 1000 wei.
    const sender = (await w.api("GET", "/v1/orchestrators")).body.signer.address as string;
    const account = async () => (await paymentAccount(b, sender, "echo-box"))!;
    const first = await account();
    assert.ok(BigInt(first.credited) >= 120_000n, `two minutes of the price bought: ${first.credited}`);
    assert.deepEqual(first.tickets.rejected, {}, "no ticket refused");
    assert.ok(BigInt(first.debited) >= 1000n && BigInt(first.debited) % 1000n === 0n, `whole seconds debited: ${first.debited}`);
    const again = await fetch(`${w.http}/process/request/process/echo`, { method: "POST", headers: { authorization: `Bearer ${key}`, Livepeer: encodeByocHeader({ capability: "echo-box" }) }, body: "{}" });
    assert.equal(again.status, 200);
    const second = await account();
    assert.equal(second.credited, first.credited, "the balance covered the second job: no tickets");
    assert.ok(BigInt(second.debited) > BigInt(first.debited));
    // Runs close together may share one usage record: the sums are what count.
    const sums = async () => {
      const r = ((await w.api("GET", `/v1/usage?key=${keyId}&limit=1000`)).body.records as Array<{ model: string; paidWei: string; orchestratorCostWei: string }>).filter((x) => x.model === "byoc/echo-box");
      return { paid: r.reduce((n, x) => n + BigInt(x.paidWei), 0n), cost: r.reduce((n, x) => n + BigInt(x.orchestratorCostWei), 0n) };
    };
    // Wharf times a job with the round trip, the orchestrator the container alone: a job near a whole
    // second may be billed a second (1000 wei) more at Wharf.
    const matches = (cost: bigint) => cost >= BigInt(second.debited) && cost <= BigInt(second.debited) + 2000n;
    await waitFor("BYOC usage recorded", async () => (matches((await sums()).cost) ? true : undefined), 10_000, 100).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(await sums(), (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))} vs debited ${second.debited}`);
    });
    const paid = (await sums()).paid - BigInt(first.credited);
    assert.ok(paid >= 0n && paid <= BigInt(first.tickets.accepted), `Wharf recorded the EV it sent (up to a wei a ticket of rounding): ${paid}`);
  });

  test("single-shot runs served ahead of fastify: one rate-limit token each, refusals in fastify's shape with CORS, timed in the HTTP metric; unusual URLs still routed", async () => {
    const metric = async (status: string, method = "POST") => {
      const text = await (await fetch(`${w.http}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith(`wharf_http_request_duration_seconds_count{route="/v1/apps/:app/run/*",method="${method}",status="${status}"}`));
      return Number(line?.split(" ")[1] ?? 0);
    };
    const ok0 = await metric("2xx");
    const limited = (await w.api("POST", "/v1/keys", { name: "burst-of-three", scopes: ["ai"], rateLimit: { requestsPerMinute: 1, burst: 3 } })).body.secret;
    const origin = "http://app.example";
    const run = (secret: string | undefined, app = RUN_APP, path = "v1/json") =>
      fetch(`${w.http}/v1/apps/${app}/run/${path}`, { method: "POST", headers: { ...(secret ? { authorization: `Bearer ${secret}` } : {}), "content-type": "application/json", origin }, body: JSON.stringify({ q: 2 }) });
    // A refusal decided after authentication (unknown app) is sent by fastify's route: its guard
    // takes the lane's verdict instead of a second token.
    const statuses = [];
    for (const app of [RUN_APP, encodeURIComponent("no/such-app"), RUN_APP, RUN_APP]) {
      const r = await run(limited, app);
      statuses.push(r.status);
      if (r.status === 200) {
        // A relayed answer is readable by the browser that asked, as every other route's is.
        assert.equal(r.headers.get("access-control-allow-origin"), origin);
        assert.match(r.headers.get("access-control-expose-headers") ?? "", /Retry-After/);
      }
      if (r.status === 429) {
        assert.equal(r.headers.get("access-control-allow-origin"), origin);
        assert.ok(Number(r.headers.get("retry-after")) >= 1);
        assert.equal(((await r.json()) as { error: string }).error, "rate_limited");
      } else await r.body?.cancel();
    }
    assert.deepEqual(statuses, [200, 404, 200, 429], "each request takes one token");
    assert.equal((await metric("2xx")) - ok0, 2);

    // A streamed answer whose client leaves before its end is timed too, with the status it was relayed with.
    const get0 = await metric("2xx", "GET");
    const leaving = new AbortController();
    const streamed = await fetch(`${w.http}/v1/apps/${RUN_APP}/run/v1/events?count=3&intervalMs=300`, { headers: { authorization: `Bearer ${key}` }, signal: leaving.signal });
    assert.equal(streamed.status, 200);
    await streamed.body!.getReader().read();
    leaving.abort();
    await waitFor("the run its client left timed", async () => ((await metric("2xx", "GET")) === get0 + 1) || undefined, 5000, 50);

    // A run whose client leaves before any answer got no status: it is not counted under any.
    const posts = async () => (await Promise.all(["2xx", "4xx", "5xx"].map((s) => metric(s)))).reduce((a, b) => a + b, 0);
    const post0 = await posts();
    const impatient = new AbortController();
    const slow = fetch(`${w.http}/v1/apps/${RUN_APP}/run/v1/json?delayMs=1500`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: "{}", signal: impatient.signal });
    await new Promise((r) => setTimeout(r, 300));
    impatient.abort();
    await assert.rejects(slow);
    await new Promise((r) => setTimeout(r, 1700)); // past the runner's answer, which nobody takes
    assert.equal(await posts(), post0);
    // The same run waited for is timed: the metric above could have counted it.
    const patient = await fetch(`${w.http}/v1/apps/${RUN_APP}/run/v1/json?delayMs=100`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: "{}" });
    assert.equal(patient.status, 200);
    await patient.body?.cancel();
    await waitFor("the run waited for timed", async () => ((await posts()) === post0 + 1) || undefined, 5000, 50);

    const anonymous = await run(undefined);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get("www-authenticate"), 'Bearer realm="wharf"');
    assert.equal(anonymous.headers.get("access-control-allow-origin"), origin);
    assert.equal(((await anonymous.json()) as { error: string }).error, "unauthorized");
    const unknown = await run(key, encodeURIComponent("no/such-app"));
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers.get("access-control-allow-origin"), origin);
    assert.equal(((await unknown.json()) as { error: string }).error, "unknown_app");
    const noJob = await fetch(`${w.http}/process/request/x`, { method: "POST", headers: { authorization: `Bearer ${key}`, origin }, body: "{}" });
    assert.equal(noJob.status, 400);
    assert.equal(noJob.headers.get("access-control-allow-origin"), origin);

    // A %-escape after run/ is left to fastify's route, which decodes it as before.
    const escaped = await run(key, RUN_APP, "v1/json%2Fsub");
    assert.equal(escaped.status, 200);
    assert.equal(((await escaped.json()) as { path: string }).path, "/v1/json/sub");
    const head = await fetch(`${w.http}/v1/apps/${RUN_APP}/run/v1/json`, { method: "HEAD", headers: { authorization: `Bearer ${key}` } });
    assert.notEqual(head.status, 404);
  });

  test("single-shot: JSON proxied and billed; a runner killed -> the next request goes to another runner; none left -> 503", async () => {
    // A key of its own: its billed runs are exactly this test's (the other tests' runs may still be in a tally window).
    const own = (await w.api("POST", "/v1/keys", { name: "single-shot", scopes: ["ai"] })).body;
    const run = () => fetch(`${w.http}/v1/apps/${RUN_APP}/run/v1/json`, { method: "POST", headers: { authorization: `Bearer ${own.secret}`, "content-type": "application/json" }, body: JSON.stringify({ q: 1 }) });
    const first = await run();
    assert.equal(first.status, 200);
    const answer = (await first.json()) as { runner: string; echo: unknown };
    assert.deepEqual(answer.echo, { q: 1 });
    // Runs are billed per run; runs close together share a record (units = runs).
    const runsBilled = async () => {
      const records = (await w.api("GET", `/v1/usage?key=${own.key.id}&pipeline=apps&limit=1000`)).body.records as Array<{ model?: string; units: number; chargeMicros: number }>;
      const json = records.filter((r) => r.model === "example/json");
      return { runs: json.reduce((n, r) => n + r.units, 0), chargeMicros: json.reduce((n, r) => n + r.chargeMicros, 0) };
    };
    const billed = await waitFor("the first run billed", async () => {
      const now = await runsBilled();
      return now.runs === 1 ? now : undefined;
    }, 5000, 20);
    assert.ok(billed.chargeMicros > 0, "billed per request");

    // A burst of concurrent runs on the paying orchestrator: each pays for itself (a payment
    // quote shared between them reused ticket nonces, which the orchestrator refused), and runs
    // that come close together are billed together (one ledger commit, after a few ms), every one.
    // Waves of 4 at once: what the two runners (capacity 2 each) take without a 503.
    const burst: Array<number | string> = [];
    for (let wave = 0; wave < 10; wave++) {
      burst.push(...(await Promise.all(Array.from({ length: 4 }, async () => {
        const r = await run();
        const text = await r.text();
        return r.status === 200 ? 200 : `${r.status} ${text.slice(0, 300)}`;
      }))));
    }
    assert.deepEqual(burst, Array(40).fill(200));
    let seen = billed;
    const after = await waitFor("every run of the burst billed", async () => {
      seen = await runsBilled();
      return seen.runs === billed.runs + 40 ? seen : undefined;
    }, 10_000, 50).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}: ${seen.runs} runs billed, ${billed.runs} + 40 expected`);
    });
    const perRun = billed.chargeMicros / billed.runs;
    assert.equal(after.chargeMicros, billed.chargeMicros + 40 * perRun, "each run charged as one (tallied records sum their runs' charges)");

    // A capped key's runs hold their charge until their tallied record is written: back to back,
    // three runs fit a cap of three and a half, the fourth is refused before it is relayed.
    const cappedKey = (await w.api("POST", "/v1/keys", { name: "run-capped", scopes: ["ai"], spendCaps: { daily: (3.5 * perRun) / 1e6 } })).body;
    const cappedRun = () => fetch(`${w.http}/v1/apps/${RUN_APP}/run/v1/json`, { method: "POST", headers: { authorization: `Bearer ${cappedKey.secret}`, "content-type": "application/json" }, body: "{}" });
    const cappedStatuses = [];
    for (let i = 0; i < 4; i++) {
      const r = await cappedRun();
      cappedStatuses.push(r.status === 402 ? `402 ${((await r.json()) as { error: string }).error}` : (await r.body?.cancel(), r.status));
    }
    assert.deepEqual(cappedStatuses, [200, 200, 200, "402 spend_cap_reached"]);
    const cappedBilled = await waitFor("the capped key's runs billed", async () => {
      const u = (await w.api("GET", `/v1/usage?key=${cappedKey.key.id}&pipeline=apps`)).body;
      return u.total.chargeMicros === 3 * perRun ? u : undefined;
    }, 5000, 50);
    assert.equal(cappedBilled.records.reduce((n: number, r: { units: number }) => n + r.units, 0), 3);

    // A body over the limit is refused with a 413 the client receives (the rest is drained, not reset).
    const tooBig = await fetch(`${w.http}/v1/apps/${RUN_APP}/run/v1/json`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: Buffer.alloc(MAX_RUN_BODY_BYTES + 1, 0x20) });
    assert.equal(tooBig.status, 413);
    assert.equal(((await tooBig.json()) as { error: string }).error, "body_too_large");

    // Kill the runner that answered: the next request is served by the other one.
    const [dead, alive] = answer.runner === "r1" ? [r1, "r2"] : [r2, "r1"];
    dead.proc.kill("SIGKILL");
    const next = await run();
    assert.equal(next.status, 200);
    assert.equal(((await next.json()) as { runner: string }).runner, alive);

    (answer.runner === "r1" ? r2 : r1).proc.kill("SIGKILL");
    const none = await waitFor("no runner left", async () => {
      const r = await run();
      return r.status === 503 ? r : (await r.body?.cancel(), undefined);
    }, 15_000, 300);
    assert.ok(Number(none.headers.get("retry-after")) >= 1);
    assert.match(((await none.json()) as { message: string }).message, /busy|unreachable/);
  });
});

describe("apps through a signer's discovery; sessions that end on their own", { timeout: 120_000 }, () => {
  let r3: ListeningProcess;
  let signer: ListeningProcess;
  let c: OrchestratorProcess;
  /** Hosts "example/solo" only (on the same runner): killed to see a session whose orchestrator dies. */
  let d: OrchestratorProcess;
  let w: WharfProcess;
  let receiver: Server;
  let secret = "";
  const got: Array<{ type: string; data: Record<string, any>; signatureValid: boolean }> = [];
  const ended = (sessionId: string) => () => got.find((g) => g.type === "app.session_ended" && g.data.sessionId === sessionId);

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "wharf-e2e-apps-signer-"));
    receiver = createServer(async (req, res) => {
      let body = "";
      for await (const chunk of req) body += chunk;
      const json = JSON.parse(body) as { type: string; data: Record<string, unknown> };
      got.push({ type: json.type, data: json.data, signatureValid: verifySignature(secret, body, String(req.headers["wharf-signature"]), Math.floor(Date.now() / 1000)) });
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    r3 = await spawnListening("orchestrator/example-runner/main.ts", ["--name", "r3"]);
    // An orchestrator that hosts only apps (no AI, no live): the signer lists it because its
    // /discovery lists runners; Wharf reads its apps from that /discovery.
    const solo = join(dir, "d.json");
    writeFileSync(solo, JSON.stringify({ runners: [{ routing: "label", runner_url: r3.url, health_url: `${r3.url}/health`, version: "1", label: "solo", app: "example/solo", mode: "persistent", capacity: 1 }] }));
    [c, d] = await Promise.all([
      startOrchestratorProcess(["--no-ai", "--no-live", "--runners", runnersFile(dir, "c", r3.url), "--runner-health-ms", "300"], { http: true }),
      startOrchestratorProcess(["--no-ai", "--no-live", "--runners", solo, "--runner-health-ms", "300"], { http: true }),
    ]);
    signer = await spawnListening("signer/main.ts", ["--port", "0", "--http", "--data-dir", join(dir, "signer"), "--orchestrators", `${c.url},${d.url}`, "--discovery-interval", "1"]);
    w = await startWharf({ env: { WHARF_REMOTE_SIGNER_URL: signer.url, WHARF_LIVE_PAYMENT_INTERVAL: "1", WHARF_WEBHOOK_ALLOW_PRIVATE: "true" } });
    const hook = await w.api("POST", "/v1/webhooks", { url: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`, events: ["app.session_ended"] });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
    secret = hook.body.secret;
  });
  after(async () => {
    await w?.stop();
    await Promise.allSettled([c?.kill(), d?.kill()]);
    for (const p of [r3, signer]) p?.proc.kill("SIGKILL");
    receiver?.closeAllConnections();
    receiver?.close();
  });

  test("with only remoteSignerUrl, apps-only orchestrators the signer lists are found and their apps discovered", async () => {
    const listed = (await (await fetch(`${signer.url}/discover-orchestrators`)).json()) as Array<{ address: string; capabilities: string[] }>;
    assert.deepEqual(listed, [{ address: c.url, score: 1, capabilities: [] }, { address: d.url, score: 1, capabilities: [] }]);
    const orchs = await waitFor("orchestrators found through the signer", async () => {
      const r = await w.api("GET", "/v1/orchestrators");
      return r.body.orchestrators.filter((o: { apps?: { runners: unknown[] } }) => (o.apps?.runners.length ?? 0) > 0).length === 2 ? r.body.orchestrators : undefined;
    }, 20_000, 250);
    assert.deepEqual(orchs.map((o: { address: string }) => o.address).sort(), [c.url, d.url].sort());
    const apps = (await w.api("GET", "/v1/apps")).body.apps as Array<{ app: string; capacityAvailable: number }>;
    assert.deepEqual(apps.map((x) => x.app).sort(), ["example/echo", "example/json", "example/solo"]);
  });

  test("a running session is stopped when its key crosses the spend cap", async () => {
    // 0.012 USD/hour at Wharf's prices: 20 micro-USD a day is about six seconds of session.
    const k = await w.api("POST", "/v1/keys", { name: "cap-crossed", scopes: ["ai"], spendCaps: { daily: 0.00002 } });
    const opened = await w.api("POST", `/v1/apps/${SESSION_APP}/sessions`, undefined, k.body.secret);
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    const event = await waitFor("app.session_ended (spend cap)", ended(opened.body.id), 30_000, 200);
    assert.ok(event.signatureValid);
    assert.equal(event.data.reason, "spend-cap");
    assert.ok(event.data.durationSeconds >= 2, `ran ${event.data.durationSeconds} s before the cap`);
    const s = await w.api("GET", `/v1/apps/${SESSION_APP}/sessions/${opened.body.id}`, undefined, k.body.secret);
    assert.equal(s.status, 200);
    assert.equal(s.body.state, "ended");
    assert.equal(s.body.endReason, "spend-cap");
    assert.match(s.body.endDetail, /cap/);
    const usage = (await w.api("GET", `/v1/usage?key=${k.body.key.id}&pipeline=apps`)).body;
    assert.ok(usage.total.chargeMicros <= 20, `billed ${usage.total.chargeMicros} micro-USD against a 20 micro-USD cap`);
    // The runner's slot was given back and a new session of the same key is refused up front.
    await waitFor("slot released", async () => ((await echoCapacity(c)) === 1) || undefined, 5000, 100);
    assert.equal((await w.api("POST", `/v1/apps/${SESSION_APP}/sessions`, undefined, k.body.secret)).status, 402);
  });

  test("a session whose orchestrator dies is ended with a reason and an app.session_ended event", async () => {
    const opened = await w.api("POST", `/v1/apps/${encodeURIComponent("example/solo")}/sessions`, undefined, w.adminKey);
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    assert.equal(opened.body.orchestrator, d.url);
    await d.kill();
    const event = await waitFor("app.session_ended (orchestrator unreachable)", ended(opened.body.id), 20_000, 100);
    assert.ok(event.signatureValid);
    assert.equal(event.data.reason, "orchestrator-unreachable");
    assert.match(event.data.detail, new RegExp(`orchestrator ${d.url.replace(/[.:/]/g, "\\$&")} unreachable`));
    const s = await w.api("GET", `/v1/apps/${encodeURIComponent("example/solo")}/sessions/${opened.body.id}`);
    assert.equal(s.body.endReason, "orchestrator-unreachable");
  });

  test("a session whose runner dies is ended with a reason and an app.session_ended event", async () => {
    const opened = await w.api("POST", `/v1/apps/${SESSION_APP}/sessions`, undefined, w.adminKey);
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    const ok = await fetch(`${opened.body.appUrl}v1/json`, { method: "POST", headers: { authorization: `Bearer ${w.adminKey}`, "content-type": "application/json" }, body: "{}" });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    r3.proc.kill("SIGKILL");
    const event = await waitFor("app.session_ended (runner failed)", ended(opened.body.id), 15_000, 100);
    assert.ok(event.signatureValid);
    assert.equal(event.data.reason, "runner-failed");
    assert.match(event.data.detail, /health check/);
    assert.equal(event.data.orchestrator, c.url);
    const s = await w.api("GET", `/v1/apps/${SESSION_APP}/sessions/${opened.body.id}`);
    assert.equal(s.body.state, "ended");
    assert.equal(s.body.endReason, "runner-failed");
    // No silent swap: the session's URLs answer 404 with the reason.
    const gone = await fetch(`${opened.body.appUrl}v1/json`, { method: "POST", headers: { authorization: `Bearer ${w.adminKey}` }, body: "{}" });
    assert.equal(gone.status, 404);
    assert.match(((await gone.json()) as { message: string }).message, /ended: runner-failed/);
  });
});
