// The stream meter on real accounts and a real hub: a live AI stream with no output in an interval
// is not billed by time; a passthrough stream is.
import { test } from "node:test";
import assert from "node:assert/strict";
import { withAccounts } from "../../test/support/accounts.ts";
import { StreamHub } from "../../media/hub/hub.ts";
import type { ProcessorFactory } from "../../media/hub/hub.ts";
import { createPassthroughProcessor } from "../../media/processors/passthrough.ts";
import { AccountsStreamCatalog } from "../streams/catalog.ts";
import { StreamMeter } from "./stream-meter.ts";


type Accounts = Parameters<Parameters<typeof withAccounts>[0]>[0];
type Setup = { accounts: Accounts; key: Awaited<ReturnType<Accounts["createKey"]>>["key"]; catalog: AccountsStreamCatalog; hub: StreamHub; meter: StreamMeter };

/** Real accounts, a key, a hub with `processors` and a meter that never ticks on its own (the test records). */
function withMeter(processors: Partial<Record<"passthrough" | "live-video-to-video" | "transcode", ProcessorFactory>>, fn: (s: Setup) => Promise<void>): Promise<void> {
  return withAccounts(async (accounts) => {
    const { key } = await accounts.createKey({ name: "k", scopes: ["streams"] });
    const catalog = await AccountsStreamCatalog.open(accounts);
    const hub = new StreamHub(catalog, { publisherTimeoutMs: 60_000, maxLive: 10 });
    for (const [pipeline, factory] of Object.entries(processors)) hub.registerProcessor(pipeline as "passthrough", factory);
    const meter = new StreamMeter(hub, accounts, 3_600_000);
    try {
      await fn({ accounts, key, catalog, hub, meter });
    } finally {
      meter.stop();
      await hub.stop();
    }
  });
}

const idle: ProcessorFactory = () => ({ async stop() {}, status: () => ({}) });

test("an interval without orchestrator output bills no time; passthrough bills its time", () =>
  withMeter({ passthrough: createPassthroughProcessor, "live-video-to-video": idle }, async ({ accounts, key, catalog, hub, meter }) => {
    const live = await catalog.create({ name: "ai", pipeline: "live-video-to-video", ownerKeyId: key.id, options: {} });
    const plain = await catalog.create({ name: "plain", pipeline: "passthrough", ownerKeyId: key.id, options: {} });
    for (const s of [live, plain]) {
      const r = await hub.admit({ streamKey: s.streamKey, protocol: "rtmp", remoteAddress: "127.0.0.1", disconnect: () => {} });
      assert.ok(r.ok);
    }
    await new Promise((r) => setTimeout(r, 50));
    await meter.record(hub.get(live.id)!, false);
    await meter.record(hub.get(plain.id)!, false);
    const records = await accounts.listUsage({ from: 0, to: Date.now() + 1 });
    const byStream = (id: string) => records.find((x) => x.streamId === id)!;
    assert.equal(byStream(live.id).durationMs, 0, "no output: no time billed");
    assert.ok(byStream(plain.id).durationMs >= 50, "passthrough billed by time");
  }));

test("work that finishes after its stream ended (segments still at an orchestrator) is recorded, with no time", () =>
  withMeter({ transcode: idle }, async ({ accounts, key, catalog, hub }) => {
    const s = await catalog.create({ name: "ladder", pipeline: "transcode", ownerKeyId: key.id, options: {} });
    const r = await hub.admit({ streamKey: s.streamKey, protocol: "rtmp", remoteAddress: "127.0.0.1", disconnect: () => {} });
    assert.ok(r.ok);
    const stream = hub.get(s.id)!;
    stream.addUsage(1000, 10n, "https://o1", 8n);
    hub.kick(s.id, "shutdown");
    await new Promise((r) => setTimeout(r, 100));
    stream.addUsage(2000, 20n, "https://o1", 16n); // a segment that was in flight
    const late = await new Promise<Awaited<ReturnType<typeof accounts.listUsage>>>((resolve, reject) => {
      const t0 = Date.now();
      const poll = async () => {
        const records = (await accounts.listUsage({ from: 0, to: Date.now() + 1 })).filter((x) => x.streamId === s.id);
        if (records.length >= 2) return resolve(records);
        if (Date.now() - t0 > 5000) return reject(new Error(`late usage not recorded: ${JSON.stringify(records)}`));
        setTimeout(poll, 50);
      };
      void poll();
    });
    const total = late.reduce((sum, x) => ({ units: sum.units + x.units, paid: sum.paid + BigInt(x.paidWei) }), { units: 0, paid: 0n });
    assert.equal(total.paid, 24n, "every ticket's EV recorded");
    assert.equal(late[1]!.durationMs, 0, "the time was billed by the final record");
    assert.ok(late[1]!.units > 0, "the late pixels are billed");
  }));

test("a spend check that fails (the cluster's Redis down) is logged and retried next interval; the usage is recorded and nothing throws", () =>
  withMeter({ passthrough: createPassthroughProcessor }, async ({ accounts, key, catalog, hub, meter }) => {
    const checkSpend = accounts.checkSpend.bind(accounts);
    accounts.checkSpend = async () => {
      throw new Error("cluster limits unavailable: Redis is down");
    };
    try {
      const s = await catalog.create({ name: "plain", pipeline: "passthrough", ownerKeyId: key.id, options: {} });
      assert.ok((await hub.admit({ streamKey: s.streamKey, protocol: "rtmp", remoteAddress: "127.0.0.1", disconnect: () => {} })).ok);
      await new Promise((r) => setTimeout(r, 20));
      await meter.record(hub.get(s.id)!, false); // resolves: a rejection here was an unhandled one in the meter's timer
      assert.equal((await accounts.listUsage({ from: 0, to: Date.now() + 1 })).filter((x) => x.streamId === s.id).length, 1);
      assert.ok(hub.get(s.id)!.live, "the stream goes on");
    } finally {
      accounts.checkSpend = checkSpend;
    }
  }));
