// How an RTMP connection's bytes are read: into one reused buffer, and for a publisher in batches.
//
// A socket in Node's ordinary stream mode gets a fresh buffer for every read (an ArrayBuffer the
// garbage collector has to find and free; external memory that schedules collections) and runs the
// readable-stream machinery for each. Everything the RTMP parsers keep they copy (the handshake
// into its own buffer, the chunk reader into message payloads), so the server reads every socket
// with net.Socket's `onread` into one buffer it owns; the bytes are consumed before the next read.
// Node's net.Server has no `onread` option, so an accepted socket (paused on connect) hands its
// handle to a new net.Socket that has one. Should that handle not be there (another runtime), the
// socket is read the ordinary way.
import net from "node:net";

/** The read buffer: one socket read delivers at most this much (what Node reads by default). */
export const READ_BUFFER_BYTES = 64 * 1024;

/**
 * A publishing socket is read at most this often (what arrives meanwhile waits in the kernel and
 * comes in one read). An encoder writes every RTMP chunk on its own, about 100 reads a second per
 * stream at 2.5 Mb/s; batched, the system CPU of 10 streams fell from about 4.5 % to 2.5 % of a
 * core (bench/ingest.ts). Adds at most this much latency, well under an LL-HLS part.
 */
export const PUBLISH_READ_INTERVAL_MS = 40;

interface HandleOwner {
  _handle?: unknown;
}

/**
 * The connection `raw` (accepted with `pauseOnConnect`) as a socket that reads into `buffer` and
 * hands each read to `onData` (a view of `buffer`, valid until `onData` returns). Without a buffer,
 * or when the handle cannot be moved, `raw` itself is returned, reading the ordinary way.
 */
export function openSocket(raw: net.Socket, buffer: Buffer | undefined, onData: (data: Buffer) => void): net.Socket {
  const handle = (raw as unknown as HandleOwner)._handle;
  if (buffer && handle) {
    // `handle` is what net.Server itself passes for an accepted connection; the typings omit it.
    const socket = new net.Socket({
      handle,
      readable: true,
      writable: true,
      onread: {
        buffer,
        callback: (n: number, buf: Uint8Array) => {
          onData(Buffer.from(buf.buffer, buf.byteOffset, n));
        },
      },
    } as net.SocketConstructorOpts);
    // The accepted socket gives up its handle; destroying it settles the server's connection count.
    (raw as unknown as HandleOwner)._handle = null;
    raw.destroy();
    return socket;
  }
  raw.on("data", onData);
  raw.resume();
  return raw;
}

/**
 * Reads a publisher in batches: after a read, stop reading for PUBLISH_READ_INTERVAL_MS, so the
 * kernel gathers what the encoder sent meanwhile into the next read. One timer per connection,
 * re-armed (no new timer object per batch).
 */
export class ReadBatcher {
  private timer?: NodeJS.Timeout;
  private waiting = false;
  private held = false;
  private stopped = false;

  constructor(private readonly socket: net.Socket) {}

  /** After a read while publishing: pause now (what the stream layer already holds waits too), resume a moment later. */
  afterRead(): void {
    if (this.waiting || this.held || this.stopped) return;
    this.waiting = true;
    this.socket.pause();
    if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(() => this.wake(), PUBLISH_READ_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** Stop reading until release() (admission is slow: let TCP push back). */
  hold(): void {
    if (this.held || this.stopped) return;
    this.held = true;
    this.socket.pause();
  }

  release(): void {
    if (!this.held || this.stopped) return;
    this.held = false;
    if (!this.waiting) this.socket.resume();
  }

  get holding(): boolean {
    return this.held;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private wake(): void {
    this.waiting = false;
    if (!this.held && !this.stopped) this.socket.resume();
  }
}
