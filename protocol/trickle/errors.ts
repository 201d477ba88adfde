// Errors surfaced by the trickle clients. `kind` is what a caller (the gateway's
// failure detection) branches on; `terminal` says whether the client gave up.

export type TrickleErrorKind =
  /** 404: the channel does not exist (never created, deleted, or swept). Terminal. */
  | "not-found"
  /** The channel was closed by the server (`Lp-Trickle-Closed`). Terminal for a publisher. */
  | "closed"
  /** Connection refused/reset/timeout, TLS failure... */
  | "network"
  /** An unexpected HTTP status (not 200/404/470). */
  | "status"
  /** The client was closed locally while the operation was pending. */
  | "aborted";

export class TrickleError extends Error {
  readonly kind: TrickleErrorKind;
  readonly terminal: boolean;
  readonly status?: number;
  readonly seq?: number;
  readonly url?: string;

  constructor(
    kind: TrickleErrorKind,
    message: string,
    opts: { terminal?: boolean; status?: number; seq?: number; url?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "TrickleError";
    this.kind = kind;
    this.terminal = opts.terminal ?? (kind === "not-found" || kind === "closed" || kind === "aborted");
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.seq !== undefined) this.seq = opts.seq;
    if (opts.url !== undefined) this.url = opts.url;
  }
}
