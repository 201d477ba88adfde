// BYOC jobs through Wharf against orchestrators as go-livepeer runs them, with go-livepeer's remote
// signer (which signs no BYOC jobs: a proxy in front of the development signer answers its
// /sign-byoc-job 404, as go-livepeer's mux does): an on-chain orchestrator (it asks for tickets and
// verifies job signatures) is skipped with the reason, an off-chain one takes the unsigned job; a
// container's own 400 reaches the client as go passes it on (plain text) and is billed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeByocHeader } from "../../protocol/apps/live-runner.ts";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { spawnListening, type ListeningProcess } from "../support/listening-process.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";

/** go-livepeer's signer as Wharf sees it: the development signer, minus /sign-byoc-job. */
async function goLikeSigner(target: string): Promise<{ url: string; server: Server; jobSignings: () => number }> {
  let jobSignings = 0;
  const server = createServer((req, res) => {
    if (req.url?.startsWith("/sign-byoc-job")) {
      jobSignings++;
      res.writeHead(404, { "content-type": "text/plain" }).end("404 page not found\n");
      return;
    }
    const up = httpRequest(`${target}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, jobSignings: () => jobSignings };
}

describe("BYOC with go-livepeer's remote signer", { timeout: 120_000 }, () => {
  let runner: ListeningProcess;
  let signer: ListeningProcess;
  let proxy: Awaited<ReturnType<typeof goLikeSigner>>;
  let onChain: OrchestratorProcess;
  let offChain: OrchestratorProcess;
  let w: WharfProcess;
  let key: string;

  const job = (body: string, picks: { include?: string[]; exclude?: string[] } = {}, k = key, query = "", signal?: AbortSignal) =>
    fetch(`${w.http}/process/request/v1/json${query}`, {
      method: "POST",
      signal,
      headers: { authorization: `Bearer ${k}`, "content-type": "application/json", Livepeer: encodeByocHeader({ capability: "box", parameters: JSON.stringify({ orchestrators: picks }) as never }) },
      body,
    });
  /** A key of the test's own, and the BYOC runs billed to it (exact: no other test's runs in a tally window). */
  const ownKey = async (name: string) => {
    const k = (await w.api("POST", "/v1/keys", { name, scopes: ["ai"] })).body;
    const units = async () => ((await w.api("GET", `/v1/usage?key=${k.key.id}&limit=100`)).body.records as Array<{ model: string; units: number }>).filter((r) => r.model === "byoc/box").reduce((n, r) => n + r.units, 0);
    return { secret: k.secret as string, units };
  };

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "wharf-e2e-byoc-"));
    [runner, signer] = await Promise.all([
      spawnListening("orchestrator/example-runner/main.ts", ["--name", "box"]),
      spawnListening("signer/main.ts", ["--port", "0", "--http", "--data-dir", join(dir, "signer")]),
    ]);
    proxy = await goLikeSigner(signer.url);
    [onChain, offChain] = await Promise.all([
      startOrchestratorProcess(["--no-ai", "--no-live", "--require-payment", "--orch-secret", "s3cret"], { http: true }),
      startOrchestratorProcess(["--no-ai", "--no-live", "--orch-secret", "s3cret"], { http: true }),
    ]);
    for (const o of [onChain, offChain]) {
      const reg = await fetch(`${o.url}/capability/register`, { method: "POST", headers: { authorization: "s3cret" }, body: JSON.stringify({ name: "box", url: runner.url, capacity: 2, price_per_unit: 1000, price_scaling: 1, currency: "wei" }) });
      assert.equal(reg.status, 200);
    }
    w = await startWharf({ env: { WHARF_ORCH_ADDR: `${onChain.url},${offChain.url}`, WHARF_REMOTE_SIGNER_URL: proxy.url } });
    key = (await w.api("POST", "/v1/keys", { name: "byoc", scopes: ["ai"] })).body.secret;
    await waitFor("signer identity and orchestrators", async () => {
      const o = (await w.api("GET", "/v1/orchestrators")).body;
      return o.signer?.address && o.orchestrators.filter((x: { reachable?: boolean }) => x.reachable !== false).length === 2 ? true : undefined;
    }, 20_000, 200);
  });
  after(async () => {
    await w?.stop();
    await Promise.allSettled([onChain?.kill(), offChain?.kill()]);
    proxy?.server.close();
    for (const p of [runner, signer]) p?.proc.kill("SIGKILL");
  });

  test("an on-chain orchestrator is skipped with the reason (it takes signed jobs only); an off-chain one takes the job unsigned", async () => {
    const refused = await job('{"a":1}', { include: [onChain.url] });
    assert.equal(refused.status, 503);
    assert.match(((await refused.json()) as { message: string }).message, /takes signed jobs only/);
    assert.ok(proxy.jobSignings() >= 1, "the signer was asked to sign");

    const ok = await job('{"a":2}');
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.deepEqual(((await ok.json()) as { echo: unknown }).echo, { a: 2 });
    const paid = (await (await fetch(`${onChain.url}/wharf/payments`)).json()) as { totals: { credited: string } };
    assert.equal(paid.totals.credited, "0", "no tickets were bought for a job the on-chain orchestrator would refuse");
  });

  test("a client that leaves while its job runs is billed for it: the orchestrator did (and charged for) the work", async () => {
    const k = await ownKey("leaves");
    const ac = new AbortController();
    const leaving = job("{}", { include: [offChain.url] }, k.secret, "?delayMs=3000", ac.signal);
    // Left once the container has the job (the orchestrator counts it in use).
    const inUse = async () => ((await (await fetch(`${offChain.url}/discovery`)).json()) as Array<{ byoc?: Array<{ name: string; capacity_used: number }> }>)[0]!.byoc!.find((b) => b.name === "box")!.capacity_used;
    await waitFor("the job at the container", async () => ((await inUse()) === 1 ? true : undefined), 10_000, 25);
    ac.abort();
    await assert.rejects(leaving);
    await waitFor("the abandoned job billed", async () => ((await k.units()) === 1 ? true : undefined), 10_000, 100);
  });

  test("a job with no answer within timeout_seconds + 5 s is a 502 saying so, and its orchestrator is not held back", async () => {
    const slow = await fetch(`${w.http}/process/request/v1/json?delayMs=9000`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", Livepeer: encodeByocHeader({ capability: "box", timeout_seconds: 1 }) },
      body: "{}",
    });
    assert.equal(slow.status, 502);
    assert.match(((await slow.json()) as { message: string }).message, /took longer than its timeout_seconds/);
    // One slow container is not a network fault: the orchestrator still takes the next job.
    const o = ((await w.api("GET", "/v1/orchestrators")).body.orchestrators as Array<{ address: string; suspended?: unknown; suspendedUntil?: unknown }>).find((x) => x.address === offChain.url)!;
    assert.ok(!o.suspended && !o.suspendedUntil, JSON.stringify(o));
    const next = await job('{"after":1}');
    assert.equal(next.status, 200, await next.clone().text());
  });

  test("the container's own 400 reaches the client as plain text and is billed", async () => {
    const k = await ownKey("container-400");
    const res = await job("not json", {}, k.secret);
    assert.equal(res.status, 400);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    assert.match(await res.text(), /body is not JSON/);
    await waitFor("the 400 billed", async () => ((await k.units()) === 1 ? true : undefined), 10_000, 100);
  });
});
