// One trickle segment POST, possibly preconnected: the request line and headers go out when it is
// made, so the next segment has no request latency; its bytes follow when the segment starts.
import type http from "node:http";
import { openRequest } from "./http-client.ts";

export type PostOutcome =
  | { kind: "response"; status: number; headers: http.IncomingHttpHeaders; body: string }
  | { kind: "error"; error: Error };

/** One POST request, possibly preconnected (headers sent, no body byte yet). */
export class PendingPost {
  readonly req: http.ClientRequest;
  bytes = 0;
  outcome: PostOutcome | undefined;
  readonly done: Promise<PostOutcome>;

  constructor(
    readonly seq: number,
    url: URL,
    agent: http.Agent,
    headers: Record<string, string>,
    onEarly: (p: PendingPost) => void,
  ) {
    this.req = openRequest(url, "POST", agent, headers);
    this.done = new Promise<PostOutcome>((resolve) => {
      const settle = (o: PostOutcome) => {
        if (this.outcome) return;
        this.outcome = o;
        resolve(o);
        if (this.bytes === 0) onEarly(this);
      };
      this.req.on("error", (error) => settle({ kind: "error", error }));
      this.req.on("close", () => settle({ kind: "error", error: new Error("connection closed before a response") }));
      this.req.on("response", (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => {
          if (parts.length < 64) parts.push(c);
        });
        res.on("error", (error) => settle({ kind: "error", error }));
        res.on("end", () =>
          settle({ kind: "response", status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString("utf8") }),
        );
      });
    });
    // Connected = the socket is up (TCP, and TLS when https): bytes written from then on are "sent".
    this.connected = new Promise<void>((resolve) => {
      void this.done.then(() => resolve());
      this.req.once("socket", (socket) => {
        if (!socket.connecting) return resolve(); // a kept-alive socket, already up
        socket.once("encrypted" in socket && socket.encrypted ? "secureConnect" : "connect", () => resolve());
      });
    });
    // Send the request line and headers now: this is the preconnect.
    this.req.flushHeaders();
  }

  /** Resolves when the connection is established, or the request ended/failed. */
  readonly connected: Promise<void>;

  /** Unusable before any byte: failed, or the server already answered. */
  get dead(): boolean {
    return this.outcome !== undefined || this.req.destroyed;
  }

  abort(): void {
    if (!this.req.destroyed) this.req.destroy();
  }
}
