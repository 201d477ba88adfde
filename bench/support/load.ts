// Closed-loop HTTP load: `concurrency` clients each sending back-to-back requests for
// `seconds` (after a 1 s warm-up), over keep-alive connections. Latency of 2xx answers.
import { Agent } from "undici";

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
}

export function quantile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

export async function load(concurrency: number, seconds: number, send: (agent: Agent) => Promise<number>): Promise<LoadResult> {
  const agent = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  const lat: number[] = [];
  let errors = 0;
  const run = async (until: number, record: boolean) => {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const t0 = performance.now();
          const status = await send(agent).catch(() => 0);
          if (!record) continue;
          if (status >= 200 && status < 300) lat.push(performance.now() - t0);
          else errors++;
        }
      }),
    );
  };
  await run(performance.now() + 1000, false);
  const start = performance.now();
  await run(start + seconds * 1000, true);
  const elapsed = (performance.now() - start) / 1000;
  await agent.close();
  lat.sort((a, b) => a - b);
  return { rps: lat.length / elapsed, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), errors, requests: lat.length };
}

export const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "-");
