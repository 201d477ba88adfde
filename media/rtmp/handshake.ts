// RTMP server handshake (simple, version 3): C0+C1 -> S0+S1+S2, then C2; what OBS and ffmpeg accept.
import { randomBytes } from "node:crypto";

export const RTMP_VERSION = 3;
export const HANDSHAKE_SIZE = 1536;

/** Not an RTMP 3 handshake (e.g. RTMPE, HTTP, TLS on the RTMP port): the connection is closed. */
export class HandshakeError extends Error {
  override name = "HandshakeError";
}

export type HandshakeStep =
  /** Need more bytes. `reply` (S0+S1+S2) is set once, when C1 is complete. */
  | { done: false; reply?: Buffer }
  /** C2 received; `rest` are the first chunk-stream bytes that came with it. */
  | { done: true; reply?: Buffer; rest: Buffer };

export class ServerHandshake {
  // Fixed-size: C0 + C1, then C2 reuses it. Nothing a peer declares changes these sizes.
  private readonly buf = Buffer.alloc(1 + HANDSHAKE_SIZE);
  private have = 0;
  private phase: "c0c1" | "c2" | "done" = "c0c1";
  private readonly epoch = Date.now();

  /** Feeds received bytes. Throws HandshakeError on a version other than 3. */
  push(data: Buffer): HandshakeStep {
    let pos = 0;
    let reply: Buffer | undefined;
    if (this.phase === "c0c1") {
      const n = Math.min(data.length, this.buf.length - this.have);
      data.copy(this.buf, this.have, 0, n);
      if (this.have === 0 && n > 0 && this.buf[0] !== RTMP_VERSION) {
        throw new HandshakeError(`unsupported RTMP version ${this.buf[0]} (only ${RTMP_VERSION})`);
      }
      this.have += n;
      pos = n;
      if (this.have < this.buf.length) return { done: false };
      reply = this.reply(this.buf.subarray(1));
      this.phase = "c2";
      this.have = 0;
    }
    if (this.phase === "c2") {
      // C2 should echo S1; OBS and ffmpeg do, but nothing depends on it, so it is not checked.
      const n = Math.min(data.length - pos, HANDSHAKE_SIZE - this.have);
      this.have += n;
      pos += n;
      if (this.have < HANDSHAKE_SIZE) return { done: false, reply };
      this.phase = "done";
    }
    return { done: true, reply, rest: data.subarray(pos) };
  }

  /** S0 (version), S1 (time, zero, random), S2 (echo of C1). */
  private reply(c1: Buffer): Buffer {
    const out = Buffer.alloc(1 + 2 * HANDSHAKE_SIZE);
    out[0] = RTMP_VERSION;
    out.writeUInt32BE((Date.now() - this.epoch) >>> 0, 1);
    // bytes 5..8 stay zero: a simple (not digest) handshake
    randomBytes(HANDSHAKE_SIZE - 8).copy(out, 9);
    c1.copy(out, 1 + HANDSHAKE_SIZE);
    return out;
  }
}
