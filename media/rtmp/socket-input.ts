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
 * A publishing socket, once read, is not read again for one to two ticks of this many ms (what
 * arrives meanwhile waits in the kernel and comes in one read). An encoder writes every RTMP chunk
 * on its own, about 100 reads a second per stream at 2.5 Mb/s; batched, the system CPU of 10
 * streams fell from about 4.5 % to 2.5 % of a core (bench/ingest.ts). One ticker for all
 * publishers, so the resumed sockets are read in one pass of the event loop. Adds 25-50 ms of
 * latency, well under an LL-HLS part.
 */
export const PUBLISH_READ_TICK_MS = 25;

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

/** Resumes paused publishers: those paused before the last tick, at the next one (all sockets, one timer). */
class ReadPacer {
  private current = new Set<ReadBatcher>();
  private due = new Set<ReadBatcher>();
  private timer?: NodeJS.Timeout;

  add(b: ReadBatcher): void {
    this.current.add(b);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), PUBLISH_READ_TICK_MS);
      this.timer.unref();
    }
  }

  delete(b: ReadBatcher): void {
    this.current.delete(b);
    this.due.delete(b);
  }

  private tick(): void {
    const wake = this.due;
    this.due = this.current;
    this.current = new Set();
    for (const b of wake) b.wake();
    if (this.due.size === 0 && this.current.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

const pacer = new ReadPacer();

/**
 * Reads a publisher in batches: after a read, stop reading for one to two PUBLISH_READ_TICK_MS
 * ticks, so the kernel gathers what the encoder sent meanwhile into the next read.
 */
export class ReadBatcher {
  private waiting = false;
  private held = false;
  private stopped = false;

  constructor(private readonly socket: net.Socket) {}

  /** After a read while publishing: pause now (what the stream layer already holds waits too), resume a moment later. */
  afterRead(): void {
    if (this.waiting || this.held || this.stopped) return;
    this.waiting = true;
    this.socket.pause();
    pacer.add(this);
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
    pacer.delete(this);
  }

  /** From the pacer: read again. */
  wake(): void {
    this.waiting = false;
    if (!this.held && !this.stopped) this.socket.resume();
  }
}
