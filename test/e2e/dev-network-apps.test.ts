// The zero-config development network as `npm start` brings it up (a development signer, the example
// runner, one paying development orchestrator), asked for apps as a customer would: the catalogue lists
// the example apps, a single-shot run and a BYOC job on the example container are answered and billed,
// and the BYOC job was paid with tickets the orchestrator credited (go-livepeer's job protocol end to end).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Agent, request } from "undici";
import { encodeByocHeader } from "../../protocol/apps/live-runner.ts";
import { DEV_BYOC_CAPABILITY } from "../../server/dev-network.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { waitFor } from "../support/wait.ts";

describe("apps on the development network", { timeout: 120_000 }, () => {
  let w: WharfProcess;
  let key: string;

  before(async () => {
    w = await startWharf({ env: { WHARF_DEV_ORCHESTRATORS: "1" } });
    key = (await w.api("POST", "/v1/keys", { name: "dev-apps", scopes: ["ai"] })).body.secret;
  });
  after(async () => {
    await w?.stop();
  });

  test("the example apps are listed, a run and a paid BYOC job answered and billed", async () => {
    const apps = await waitFor("example apps listed", async () => {
      const r = await w.api("GET", "/v1/apps", undefined, key);
      return r.body.apps?.length >= 2 ? r.body : undefined;
    }, 30_000, 250);
    assert.deepEqual(apps.apps.map((a: { app: string }) => a.app).sort(), ["example/run", "example/session"]);
    assert.ok(apps.byoc.some((b: { capability: string }) => b.capability === DEV_BYOC_CAPABILITY), JSON.stringify(apps.byoc));

    const run = await fetch(`${w.http}/v1/apps/${encodeURIComponent("example/run")}/run/v1/json`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: '{"n":1}' });
    assert.equal(run.status, 200, await run.clone().text());
    assert.deepEqual(((await run.json()) as { echo: unknown }).echo, { n: 1 });

    const job = await fetch(`${w.http}/process/request/v1/json`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", Livepeer: encodeByocHeader({ capability: DEV_BYOC_CAPABILITY, parameters: JSON.stringify({}) as never }) },
      body: '{"job":2}',
    });
    assert.equal(job.status, 200, await job.clone().text());
    assert.deepEqual(((await job.json()) as { echo: unknown }).echo, { job: 2 });

    const orch = (await w.api("GET", "/v1/orchestrators")).body;
    const address = orch.orchestrators[0].address as string;
    // The development orchestrators serve HTTPS with a self-signed certificate, as go-livepeer's.
    const selfSigned = new Agent({ connect: { rejectUnauthorized: false } });
    const paid = ((await (await request(`${address}/wharf/payments`, { dispatcher: selfSigned })).body.json()) as { senders: Record<string, Record<string, { credited: string; debited: string }>> }).senders[orch.signer.address]?.[DEV_BYOC_CAPABILITY];
    assert.ok(paid && BigInt(paid.credited) > 0n && BigInt(paid.debited) > 0n, `the orchestrator credited tickets for the job and debited it: ${JSON.stringify(paid)}`);
    const usage = await waitFor("usage recorded", async () => {
      const r = (await w.api("GET", "/v1/usage?limit=100")).body.records as Array<{ model: string }>;
      return r.some((x) => x.model === `byoc/${DEV_BYOC_CAPABILITY}`) && r.some((x) => x.model === "example/run") ? r : undefined;
    }, 10_000, 100);
    assert.ok(usage.length >= 2);
  });
});
