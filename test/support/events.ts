// Reads Wharf's events (GET /v1/events, Server-Sent Events) in e2e tests.
import type { WharfProcess } from "./wharf.ts";

export interface SeenEvent {
  id: number;
  type: string;
  at: string;
  data: Record<string, any>;
}

/** Resolves with the first event (replayed or new) of the types that `match` accepts; rejects after timeoutMs. */
export async function waitForEvent(w: WharfProcess, types: string[], match: (e: SeenEvent) => boolean = () => true, timeoutMs = 30000): Promise<SeenEvent> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const res = await fetch(`${w.http}/v1/events?types=${types.join(",")}`, { headers: { authorization: `Bearer ${w.adminKey}` }, signal: abort.signal });
    if (!res.ok || !res.body) throw new Error(`GET /v1/events: ${res.status}`);
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of res.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        if (!data) continue;
        const e = JSON.parse(data) as SeenEvent;
        if (match(e)) return e;
      }
    }
    throw new Error("the event stream ended");
  } catch (err) {
    if (abort.signal.aborted) throw new Error(`no ${types.join("/")} event within ${timeoutMs} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}
