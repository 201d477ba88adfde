// A Server-Sent Events response with a bounded send queue: when what the client has not read
// yet passes `maxBufferedBytes`, the next message cuts it off (it can reconnect with
// Last-Event-ID), so a slow reader never grows the gateway's memory.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { moduleLogger } from "../../core/log.ts";
import { metrics } from "../../core/metrics.ts";

const log = moduleLogger("sse");

/** Unread bytes a client may have queued before it is dropped. */
export const DEFAULT_SSE_MAX_BUFFERED_BYTES = 1024 * 1024;
/** A comment line this often keeps proxies and idle timeouts from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;

export interface SseOptions {
  /** For the drop counter (wharf_event_stream_clients_dropped_total{endpoint}). */
  endpoint: "events" | "dashboard";
  maxBufferedBytes?: number;
  /** How long a client waits before reconnecting, sent as `retry:`. */
  retryMs?: number;
}

/**
 * Takes the response over from fastify and starts a text/event-stream on it: headers set by hooks
 * (CORS and the like) kept, no buffering by proxies, Nagle off. Returns the raw response.
 */
export function openEventStream(reply: FastifyReply): FastifyReply["raw"] {
  const headers = reply.getHeaders();
  reply.hijack();
  const raw = reply.raw;
  raw.socket?.setNoDelay(true);
  raw.writeHead(200, {
    ...(headers as Record<string, string>),
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  return raw;
}

export class SseConnection {
  private open = true;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly closers: Array<() => void> = [];
  private readonly maxBuffered: number;
  private readonly raw: FastifyReply["raw"];

  constructor(
    _req: FastifyRequest,
    reply: FastifyReply,
    private readonly opts: SseOptions,
  ) {
    this.maxBuffered = opts.maxBufferedBytes ?? DEFAULT_SSE_MAX_BUFFERED_BYTES;
    const raw = (this.raw = openEventStream(reply));
    raw.write(`retry: ${opts.retryMs ?? 2000}\n\n`);
    this.heartbeat = setInterval(() => this.write(": ping\n\n"), HEARTBEAT_MS);
    this.heartbeat.unref();
    // The response's close is the connection's (the client left, or was cut off). A client gone
    // already (during an authentication that waited on the database) had its close before this
    // listener: closed now, or its subscription and heartbeat would run for good.
    if (raw.destroyed) queueMicrotask(() => this.close());
    else raw.on("close", () => this.close());
  }

  get closed(): boolean {
    return !this.open;
  }

  /** Runs when the connection ends (either side). */
  onClose(fn: () => void): void {
    if (!this.open) fn();
    else this.closers.push(fn);
  }

  /** One event; false when the connection is closed (or was just dropped for reading too slowly). */
  send(data: string, opts: { id?: number | string; event?: string } = {}): boolean {
    let text = "";
    if (opts.id !== undefined) text += `id: ${opts.id}\n`;
    if (opts.event) text += `event: ${opts.event}\n`;
    // A data field per line: JSON has no raw newlines, but a caller's text might.
    for (const line of data.split("\n")) text += `data: ${line}\n`;
    return this.write(text + "\n");
  }

  private write(text: string): boolean {
    if (!this.open) return false;
    // Checked before writing: one message larger than the bound (a dashboard's first frame)
    // still goes out to a client that keeps up; the queue is at most the bound plus one message.
    if (this.raw.writableLength > this.maxBuffered) {
      metrics.eventClientsDropped.inc({ endpoint: this.opts.endpoint });
      log.info({ endpoint: this.opts.endpoint, bufferedBytes: this.raw.writableLength }, "event stream client reads too slowly: dropped");
      this.raw.destroy();
      this.close();
      return false;
    }
    this.raw.write(text);
    return true;
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    clearInterval(this.heartbeat);
    if (!this.raw.destroyed) this.raw.end();
    for (const fn of this.closers.splice(0)) fn();
  }
}

/** Every SSE connection of an app, so that closing the app does not wait for clients that never leave. */
export function sseConnections(app: FastifyInstance): Set<SseConnection> {
  const open = new Set<SseConnection>();
  app.addHook("preClose", (done) => {
    for (const c of open) c.close();
    done();
  });
  return open;
}
