// Server-Sent Events read with fetch, so the admin key travels in the Authorization header
// (EventSource cannot set headers, and a key in the URL would land in logs). Reconnects with
// Last-Event-ID after a drop; stops on 401/403 or when aborted.

/** Parses an event stream body, calling onEvent({id, data}) per event. */
async function pump(body, onEvent, state) {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let data = [];
  let id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      let line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (data.length) {
          if (id !== null) state.lastEventId = id;
          onEvent({ id, data: data.join("\n") });
        }
        data = [];
        id = null;
      } else if (line.startsWith("data:")) data.push(line.slice(line[5] === " " ? 6 : 5));
      else if (line.startsWith("id:")) id = line.slice(3).trim();
      else if (line.startsWith("retry:")) state.retryMs = Number(line.slice(6)) || state.retryMs;
    }
  }
}

/**
 * Keeps an event stream open: `onEvent({id, data})` per event, `onStatus(text, ok)` on
 * connects and drops. Returns a stop function.
 */
export function openEventStream(url, key, { onEvent, onStatus, onOpen, resumable = true }) {
  const ctl = new AbortController();
  const state = { lastEventId: null, retryMs: 2000 };
  (async () => {
    while (!ctl.signal.aborted) {
      try {
        const headers = { authorization: "Bearer " + key, accept: "text/event-stream" };
        if (resumable && state.lastEventId) headers["last-event-id"] = state.lastEventId;
        const res = await fetch(url, { headers, signal: ctl.signal, cache: "no-store" });
        if (res.status === 401 || res.status === 403) {
          const body = await res.json().catch(() => ({}));
          onStatus && onStatus(res.status + ": " + (body.message || "not allowed"), false, res.status);
          return;
        }
        if (!res.ok) throw new Error(url + " answered " + res.status);
        onOpen && onOpen();
        onStatus && onStatus("connected", true);
        await pump(res.body, onEvent, state);
        onStatus && onStatus("disconnected; reconnecting", false);
      } catch (e) {
        if (ctl.signal.aborted) return;
        onStatus && onStatus(e.message + "; reconnecting", false);
      }
      await new Promise((r) => setTimeout(r, state.retryMs));
    }
  })();
  return () => ctl.abort();
}
