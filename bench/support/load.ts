// Closed-loop HTTP load: `concurrency` clients each sending back-to-back requests over
// keep-alive connections. Latency of 2xx answers.
// - load(): one target for `seconds` (after a 1 s warm-up).
// - loadInterleaved(): several targets (e.g. direct vs through the gateway) measured in
//   alternating slices, so a machine whose speed drifts over seconds (shared VMs) does
//   not favour whichever ran in its faster moment. Each slice starts with an unrecorded
//   ramp (connections warm, the previous target's queue drained).
import { Agent } from "undici";
import { quantileOfSorted } from "../../core/percentile.ts";

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
}

export type Send = (agent: Agent) => Promise<number>;

export { quantileOfSorted as quantile } from "../../core/percentile.ts";

interface Tally {
  lat: number[];
  errors: number;
  ms: number;
}

async function run(agent: Agent, concurrency: number, ms: number, send: Send, tally?: Tally): Promise<void> {
  const start = performance.now();
  const until = start + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        const status = await send(agent).catch(() => 0);
        if (!tally) continue;
        if (status >= 200 && status < 300) tally.lat.push(performance.now() - t0);
        else tally.errors++;
      }
    }),
  );
  if (tally) tally.ms += performance.now() - start;
}

function result(t: Tally): LoadResult {
  t.lat.sort((a, b) => a - b);
  return { rps: t.lat.length / (t.ms / 1000), p50: quantileOfSorted(t.lat, 0.5), p99: quantileOfSorted(t.lat, 0.99), errors: t.errors, requests: t.lat.length };
}

export async function load(concurrency: number, seconds: number, send: Send): Promise<LoadResult> {
  const agent = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  const t: Tally = { lat: [], errors: 0, ms: 0 };
  await run(agent, concurrency, 1000, send);
  await run(agent, concurrency, seconds * 1000, send, t);
  await agent.close();
  return result(t);
}

/** Called around each recorded slice (e.g. to read a process's CPU time while one target is loaded). */
export type SliceHook<K extends string> = (target: K, phase: "start" | "end") => void;

/**
 * Orders of n targets in which every target follows every other one equally often within the
 * rounds (a Williams design: n rounds for an even n, 2n for an odd one), so that what a slice
 * inherits from the slice before it falls on every target alike.
 */
export function balancedOrders(n: number): number[][] {
  const first: number[] = [];
  for (let j = 0, lo = 1, hi = n - 1; j < n; j++) first.push(j === 0 ? 0 : j % 2 ? lo++ : hi--);
  const rows = Array.from({ length: n }, (_, i) => first.map((x) => (x + i) % n));
  return n % 2 ? [...rows, ...rows.map((r) => [...r].reverse())] : rows;
}

/**
 * `slices` recorded slices of `sliceMs` per target, targets taking turns; 1 s warm-up each first.
 * `balanced`: the order of each round comes from balancedOrders instead of being the same. A slice's
 * latencies depend on the one before it (the shared machine's state carries over the ramp): with a
 * fixed order, a second copy of the bare proxy measured after Wharf came out 1-3 ms lower at p99
 * than the first, measured after the orchestrator, in 5 of 8 runs.
 */
export async function loadInterleaved<K extends string>(concurrency: number, slices: number, sliceMs: number, sends: Record<K, Send>, onSlice?: SliceHook<K>, opts: { balanced?: boolean } = {}): Promise<Record<K, LoadResult>> {
  const agent = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  const names = Object.keys(sends) as K[];
  const tallies = Object.fromEntries(names.map((n) => [n, { lat: [], errors: 0, ms: 0 }])) as unknown as Record<K, Tally>;
  const orders = opts.balanced ? balancedOrders(names.length).map((o) => o.map((j) => names[j]!)) : [names];
  for (const n of names) await run(agent, concurrency, 1000, sends[n]);
  for (let i = 0; i < slices; i++) {
    for (const n of orders[i % orders.length]!) {
      await run(agent, concurrency, 200, sends[n]);
      onSlice?.(n, "start");
      await run(agent, concurrency, sliceMs, sends[n], tallies[n]);
      onSlice?.(n, "end");
    }
  }
  await agent.close();
  return Object.fromEntries(names.map((n) => [n, result(tallies[n])])) as Record<K, LoadResult>;
}

export const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "-");
