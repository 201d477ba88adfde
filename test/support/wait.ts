export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until fn returns a truthy value or the timeout passes (then throws with the label). */
export async function waitFor<T>(label: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}${lastErr ? `: ${(lastErr as Error).message}` : ""}`);
    await sleep(intervalMs);
  }
}
