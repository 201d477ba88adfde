// Bursts of batch AI requests against two development orchestrators with 4 slots each: the
// requests that find every slot taken wait in Wharf's admission queue and are all served;
// turns go round-robin over keys (a second key is served while the first key's burst waits);
// with a tiny queue timeout the overflow gets 503 with Retry-After.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestrator.ts";
import { startWharf, type WharfProcess } from "../support/wharf.ts";
import { sleep } from "../support/wait.ts";

/** A development orchestrator with 4 AI slots whose every answer takes 300 ms (a stand-in image made at no cost, then 300 ms of latency). */
const slowOrchestrator = () => startOrchestratorProcess(["--no-live", "--ai-zero-cost", "--ai-capacity", "4", "--ai-latency-ms", "300"], { http: true });

async function t2i(w: WharfProcess, key: string) {
  const t0 = Date.now();
  const res = await fetch(`${w.http}/text-to-image`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model_id: "", prompt: "queue me", width: 64, height: 64 }),
  });
  const body = (await res.json()) as { detail?: { msg: string } };
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body, ms: Date.now() - t0, doneAt: Date.now() };
}

async function aiKey(w: WharfProcess, name: string): Promise<string> {
  const r = await w.api("POST", "/v1/keys", { name, scopes: ["ai"] });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.secret;
}

describe("batch AI admission queue", { timeout: 120_000 }, () => {
  let orchs: OrchestratorProcess[] = [];

  before(async () => {
    const started = await Promise.allSettled([slowOrchestrator(), slowOrchestrator()]);
    const failed = started.find((r) => r.status === "rejected");
    if (failed) {
      // The one that started would otherwise outlive the suite (after() has no list to kill).
      await Promise.all(started.map((r) => (r.status === "fulfilled" ? r.value.kill("SIGKILL") : undefined)));
      throw failed.reason;
    }
    orchs = started.map((r) => (r as PromiseFulfilledResult<OrchestratorProcess>).value);
  });
  after(async () => {
    await Promise.all(orchs.map((o) => o.kill("SIGTERM")));
  });

  describe("with the default queue timeout (10 s)", () => {
    let wharf: WharfProcess;
    before(async () => {
      wharf = await startWharf({ env: { WHARF_ORCH_ADDR: orchs.map((o) => o.url).join(",") } });
    });
    after(async () => {
      await wharf?.stop();
    });

    test("16 concurrent requests against 8 slots: every one is served", async (t) => {
      const answers = await Promise.all(Array.from({ length: 16 }, () => t2i(wharf, wharf.adminKey)));
      assert.deepEqual(answers.map((a) => a.status), Array(16).fill(200), JSON.stringify(answers.filter((a) => a.status !== 200).map((a) => a.body)));
      const served = (await Promise.all(orchs.map((o) => o.aiStats()))).reduce((n, s) => n + (s.requests["text-to-image"] ?? 0), 0);
      assert.equal(served, 16, "each request ran once on an orchestrator");
      const slowest = Math.max(...answers.map((a) => a.ms));
      t.diagnostic(`answers in ${answers.map((a) => a.ms).sort((x, y) => x - y).join(", ")} ms`);
      assert.ok(slowest < 3000, `two rounds of 300 ms work, queued: the last answer took ${slowest} ms`);
    });

    test("clients hanging up while queued leave the queue: their requests never reach an orchestrator", async () => {
      const requestsSoFar = async () => (await Promise.all(orchs.map((o) => o.aiStats()))).reduce((n, s) => n + (s.requests["text-to-image"] ?? 0), 0);
      const before = await requestsSoFar();
      const aborts = Array.from({ length: 16 }, () => new AbortController());
      const sent = aborts.map((a) =>
        fetch(`${wharf.http}/text-to-image`, {
          method: "POST",
          signal: a.signal,
          headers: { authorization: `Bearer ${wharf.adminKey}`, "content-type": "application/json" },
          body: JSON.stringify({ model_id: "", prompt: "gone", width: 64, height: 64 }),
        }).catch(() => undefined),
      );
      await sleep(150); // 8 on the orchestrators, 8 queued
      for (const a of aborts) a.abort();
      await Promise.all(sent);
      await sleep(1000); // slots free up: nobody is left to take them
      assert.equal((await requestsSoFar()) - before, 8, "only the 8 that had a slot reached an orchestrator");
      const next = await t2i(wharf, wharf.adminKey);
      assert.equal(next.status, 200);
      assert.ok(next.ms < 1000, `the queue is empty again: ${next.ms} ms`);
    });

    test("a second key's single request is served while the first key's burst waits", async (t) => {
      const [burstKey, otherKey] = await Promise.all([aiKey(wharf, "burst"), aiKey(wharf, "single")]);
      // 40 requests = 5 rounds of the 8 slots; the other key's one request comes once the burst queues.
      const burst = Array.from({ length: 40 }, () => t2i(wharf, burstKey));
      await sleep(150);
      const single = await t2i(wharf, otherKey);
      assert.equal(single.status, 200, JSON.stringify(single.body));
      const burstAnswers = await Promise.all(burst);
      assert.deepEqual(burstAnswers.map((a) => a.status), Array(40).fill(200));
      const burstDoneBefore = burstAnswers.filter((a) => a.doneAt < single.doneAt).length;
      t.diagnostic(`the single request took ${single.ms} ms; ${burstDoneBefore} of the burst's 40 were answered before it; the burst's last took ${Math.max(...burstAnswers.map((a) => a.ms))} ms`);
      // First in, first out would have served it after the 32 burst requests waiting before it.
      assert.ok(burstDoneBefore <= 20, `the single request was served after ${burstDoneBefore} of the burst's 40 (in ${single.ms} ms)`);
    });
  });

  describe("with a tiny queue timeout", () => {
    let wharf: WharfProcess;
    before(async () => {
      wharf = await startWharf({ env: { WHARF_ORCH_ADDR: orchs.map((o) => o.url).join(","), WHARF_AI_QUEUE_TIMEOUT_MS: "100" } });
    });
    after(async () => {
      await wharf?.stop();
    });

    test("32 concurrent requests: those that get a slot are served, the overflow gets 503 with Retry-After after the timeout", async (t) => {
      // 32 on 8 slots: even on a loaded machine that spreads the arrivals, some find no slot in 100 ms.
      const answers = await Promise.all(Array.from({ length: 32 }, () => t2i(wharf, wharf.adminKey)));
      const served = answers.filter((a) => a.status === 200);
      const refused = answers.filter((a) => a.status !== 200);
      t.diagnostic(`served ${served.length}, refused ${refused.length} after ${refused.map((a) => a.ms).join(", ")} ms`);
      assert.ok(served.length >= 8 && refused.length >= 1, `served ${served.length}, refused ${refused.length}`);
      for (const r of refused) {
        assert.equal(r.status, 503, JSON.stringify(r.body));
        assert.equal(r.retryAfter, "1");
        assert.match(r.body.detail!.msg, /at capacity.*queue timeout of 100 ms/);
        assert.ok(r.ms >= 100 && r.ms < 1500, `refused after ${r.ms} ms`);
      }
      const usage = await wharf.api("GET", "/v1/usage");
      assert.equal(usage.body.records.filter((u: { pipeline: string }) => u.pipeline === "text-to-image").length, served.length, "only the served requests are billed");
    });
  });
});
