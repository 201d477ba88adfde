// Chaos: Wharf SIGKILLed in the middle of a burst of batch AI requests; after a restart on the
// same data folder, every request that had been answered 200 has exactly one usage record.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startOrchestratorProcess } from "../support/orchestrator.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep } from "../support/wait.ts";

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

test("every AI request answered 200 before a SIGKILL has exactly one usage record after restart", { timeout: 120000 }, async () => {
  const orch = await startOrchestratorProcess(["--ai-zero-cost", "--ai-capacity", "1000"], { http: true });
  cleanup.push(() => orch.kill());
  const dataDir = mkdtempSync(join(tmpdir(), "wharf-durable-"));
  cleanup.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  const env = { WHARF_ORCH_ADDR: orch.url };
  let w: WharfProcess = await startWharf({ env, dataDir });
  cleanup.push(() => w.stop("SIGKILL"));
  const key = await w.api("POST", "/v1/keys", { name: "burst", scopes: ["ai"] });
  assert.equal(key.status, 201);
  const keyId: string = key.body.key?.id ?? key.body.id;

  const answered: string[] = [];
  let killed = false;
  let failedAfterKill = 0;
  const client = async () => {
    while (!killed) {
      try {
        const res = await fetch(`${w.http}/text-to-image`, {
          method: "POST",
          headers: { authorization: `Bearer ${key.body.secret}`, "content-type": "application/json" },
          body: JSON.stringify({ model_id: "", prompt: "durability", width: 64, height: 64 }),
        });
        await res.arrayBuffer();
        if (res.status === 200) answered.push(res.headers.get("x-request-id")!);
      } catch {
        failedAfterKill++;
      }
    }
  };
  const clients = Array.from({ length: 12 }, client);
  await sleep(2500);
  w.proc.kill("SIGKILL");
  killed = true;
  await Promise.all(clients);
  await w.stop("SIGKILL");
  assert.ok(answered.length >= 20, `only ${answered.length} requests answered before the kill`);

  w = await startWharf({ env, dataDir });
  const usage = await w.api("GET", `/v1/usage?key=${keyId}&limit=100000`);
  assert.equal(usage.status, 200, JSON.stringify(usage.body));
  const recordsPerRequest = new Map<string, number>();
  for (const r of usage.body.records as Array<{ requestId: string }>) recordsPerRequest.set(r.requestId, (recordsPerRequest.get(r.requestId) ?? 0) + 1);
  const missing = answered.filter((id) => !recordsPerRequest.has(id));
  const duplicated = [...recordsPerRequest].filter(([, n]) => n > 1);
  console.log(`wharf-crash-ledger: ${answered.length} answered 200 before the SIGKILL, ${failedAfterKill} cut by it; ${recordsPerRequest.size} usage records after restart (${recordsPerRequest.size - answered.length + missing.length} for requests whose answer was lost); ${missing.length} missing, ${duplicated.length} duplicated`);
  assert.deepEqual(missing, [], `${missing.length} of ${answered.length} answered requests have no usage record`);
  assert.deepEqual(duplicated, [], "a request has more than one usage record");
  assert.equal(new Set(answered).size, answered.length, "request ids are unique");
});
